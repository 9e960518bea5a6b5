/**
 * Scripts for synthetic podcast episodes (see `speech.ts`). Plain English in common words, with no
 * numbers, abbreviations, contractions or compound words, so that a recognizer's output can be
 * compared word for word with the script. Written for podfleet; free to reuse.
 */

/** One episode script: paragraphs are spoken with a pause between them. */
export interface CorpusText {
  readonly id: string;
  readonly title: string;
  readonly paragraphs: readonly string[];
}

/** Two short paragraphs, about twenty seconds of speech: for quick round-trip tests. */
export const SHORT_TEXT: CorpusText = {
  id: "short",
  title: "A quiet morning",
  paragraphs: [
    "The garden was quiet in the morning. The roses were starting to open and the air smelled of rain. A small bird sang from the hedge.",
    "After lunch we walked down to the river and watched the boats move slowly past the old stone bridge. Then we went home for tea.",
  ],
};

/** About two minutes of speech (roughly three hundred words). */
export const GARDEN_TEXT: CorpusText = {
  id: "garden",
  title: "Starting a small vegetable garden",
  paragraphs: [
    "Welcome back to the show. This week we are talking about starting a small vegetable garden, even if you only have a little space behind the house. You do not need much money, and you do not need special tools. What you need most is patience and a sunny place. By the end of this episode, you will know how to choose a spot, how to prepare the soil, and which plants forgive the mistakes that every beginner makes.",
    "Begin by watching your garden for a whole day. Notice where the sun falls in the morning and where the shade comes in the afternoon. Most vegetables want at least half a day of bright light. Tomatoes, beans and squash love the heat, while lettuce and spinach are happy with a little shade.",
    "Next, look at the soil. Pick up a handful after a rain and squeeze it gently. If it falls apart like sand, it will need more compost to hold water. If it sticks together like clay, it will need compost too, so that the roots can breathe. Good soil is dark, soft and smells like the forest floor.",
    "When you plant, start small. A single raised bed is easier to care for than a large field, and you will learn more from a few plants that you watch closely. Water deeply in the early morning, and let the surface dry a little between visits. Pull weeds while they are small, when their roots come away easily. A thin layer of straw over the soil keeps it cool, holds the water in, and makes weeding much less work.",
    "Finally, keep a simple notebook. Write down what you planted, when the first leaves appeared, and what the insects were doing. Next spring, that notebook will be the most useful garden book you own. Thank you for listening, and happy planting.",
  ],
};

/** About a minute and a half of speech on cooking. */
export const COOKING_TEXT: CorpusText = {
  id: "cooking",
  title: "Soup for a cold evening",
  paragraphs: [
    "Hello and welcome. Today we are making a simple soup for a cold evening. It uses vegetables that you probably already have in the kitchen, and it takes less than an hour from start to finish. My grandmother made this soup every winter, and the smell of it still reminds me of her warm and busy kitchen.",
    "Start with an onion, a few carrots and a stalk of celery. Cut them into small pieces of about the same size, so that they cook evenly. Warm a little olive oil in a heavy pot and add the vegetables with a pinch of salt. Stir them slowly over a gentle heat until the onion turns soft and golden.",
    "Now add a handful of lentils, a can of chopped tomatoes and enough water or stock to cover everything by a few inches. Bring the pot to a boil, then turn the heat down and let it simmer quietly. The lentils will fall apart and make the soup thick and smooth.",
    "While the soup cooks, toast some bread and rub it with a clove of garlic. Taste the soup near the end and add more salt or a squeeze of lemon if it seems flat. A little fresh parsley on top makes it look bright and cheerful. If you like some heat, a pinch of dried chili works well, but add it slowly, because it grows stronger as the soup rests.",
    "Serve it in deep bowls with the warm bread on the side. It keeps well for several days, and many people say it tastes even better the next day. Enjoy your meal, and we will see you next week.",
  ],
};

/** About four minutes of speech: local history, then travel (roughly seven hundred words). */
export const RIVER_TOWN_TEXT: CorpusText = {
  id: "river-town",
  title: "The old mill and the river road",
  paragraphs: [
    "Good evening, and welcome to another walk through local history. Tonight we are visiting the small town by the river, the one with the old mill and the narrow stone bridge. Many people drive through it without stopping, but it has a long and interesting story.",
    "The town began as a place where farmers brought their grain. The river runs fast at that bend, and long ago a family built a wooden wheel there to turn the heavy stones that ground the wheat into flour. Farmers came from every valley around, and while they waited for their flour they needed food, a place to sleep and somewhere to trade. Slowly, a market grew beside the mill. Merchants sold salt, cloth and iron tools, and the miller became one of the richest men in the region. His house, with its tall windows and heavy oak door, still faces the square.",
    "The first mill burned down during a very dry summer. The family rebuilt it with stone, and that building still stands today. If you look closely at the walls, you can see where the newer stone meets the older stone near the ground. Inside, the great wheel is gone, but the wooden beams are still there, dark with age and smooth from many hands.",
    "Later, the trains arrived, and the town changed again. Grain could travel to the city by train, and the small mill could not compete with the large factories. For a while the town grew quiet. Some families moved away, and the market became a single street with a bakery, a shop and a church. The mill closed its doors for good, and for many years it was used to store hay and old furniture. Children told each other that a ghost lived in the attic, and nobody wanted to walk past it after dark.",
    "In recent years, visitors have started to return. The mill is now a small museum, run by people from the town who give their time freely. They tell stories about floods, about weddings on the bridge, and about the winter when the river froze so hard that children skated all the way to the next village. On the first weekend of every month, volunteers turn a small wheel by hand and grind a little flour, just as it was done long ago. Visitors can take a bag of it home and bake their own bread.",
    "If you want to visit, the best time is early autumn. The trees along the river turn red and gold, and the morning fog lifts slowly from the water. Park near the church and walk down the hill toward the bridge. From the middle of the bridge you can see the mill, the market street and the hills beyond. On market day the street fills with stalls selling honey, apples, warm pies and wool from the farms in the hills. Arrive before noon if you can, because the best things are gone by lunch, and the bakery closes as soon as its bread is sold.",
    "There is a path along the river that follows the old road the farmers used. It is flat and easy, and it takes about an hour to reach the next village. Bring good shoes, some water and a light coat, because the wind can be cold near the water even on a sunny day.",
    "At the end of the path there is a small inn with a garden. They serve fresh bread, local cheese and apple cake, and the owner is happy to talk about the history of the valley. Many visitors say that this quiet walk is the best part of their trip. If you are too tired to walk back, a bus leaves from the square in front of the inn every evening and drops you near the church.",
    "That is all for tonight. Next time we will travel further up the valley to a castle that few people have heard of. Until then, thank you for listening, and take care.",
  ],
};

/** Every script, for tests that want variety. */
export const CORPUS: readonly CorpusText[] = [SHORT_TEXT, GARDEN_TEXT, COOKING_TEXT, RIVER_TOWN_TEXT];
