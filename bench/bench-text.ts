/**
 * Scripts for the accuracy benchmark's episodes, generated from a seed: plain spoken English about
 * everyday topics, built from sentence patterns and word lists written for this project (no text
 * taken from anywhere else). The same seed always gives the same script, so the benchmark set is
 * reproducible without being committed.
 */

/** A small deterministic PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Topic {
  people: string[];
  things: string[];
  places: string[];
  doing: string[];
  qualities: string[];
  reasons: string[];
}

const TOPICS: Record<string, Topic> = {
  harbor: {
    people: ["the fishermen", "an old sailor", "the harbor master", "two young deckhands", "the woman who runs the fish market"],
    things: ["the nets", "a wooden boat", "the morning catch", "a coil of rope", "the tide tables", "the lighthouse lamp"],
    places: ["on the pier", "near the breakwater", "in the boat shed", "along the quay", "out past the point"],
    doing: ["checked the weather", "mended the torn nets", "painted the hull", "counted the crates", "tied up the boats", "watched the tide come in"],
    qualities: ["quiet", "crowded", "cold", "busy", "calm", "windy"],
    reasons: ["a storm was coming", "the season was nearly over", "the engine needed new parts", "the prices had gone up", "the fog had not lifted"],
  },
  kitchen: {
    people: ["the cook", "my grandmother", "a baker from the next street", "the students in the class", "our neighbor"],
    things: ["the bread dough", "a pot of soup", "fresh tomatoes", "the spice jars", "a sharp knife", "the oven"],
    places: ["in the kitchen", "at the market", "on the back porch", "by the window", "in the pantry"],
    doing: ["chopped the onions", "stirred the sauce", "tasted the soup", "kneaded the dough", "washed the vegetables", "set the table"],
    qualities: ["warm", "simple", "spicy", "fresh", "crowded", "cheerful"],
    reasons: [
      "guests were coming for dinner",
      "the recipe needed more time",
      "the garden had too many beans",
      "nobody wanted to waste food",
      "the bread had to rise twice",
    ],
  },
  railway: {
    people: ["the conductor", "a tired commuter", "the station manager", "a group of hikers", "the engineers"],
    things: ["the night train", "a paper ticket", "the signal lights", "the timetable", "a heavy suitcase", "the old locomotive"],
    places: ["on the platform", "at the ticket office", "in the dining car", "near the tunnel", "across the valley"],
    doing: ["waited for the train", "read the timetable", "carried the luggage", "checked the tickets", "cleaned the windows", "repaired the track"],
    qualities: ["late", "empty", "noisy", "comfortable", "slow", "punctual"],
    reasons: [
      "the line was being repaired",
      "snow had blocked the pass",
      "the holidays had started",
      "a bridge was closed",
      "the timetable had changed",
    ],
  },
  garden: {
    people: ["the gardener", "the children", "a retired teacher", "the volunteers", "my brother"],
    things: ["the apple trees", "a row of carrots", "the compost heap", "the watering can", "the roses", "a wheelbarrow"],
    places: ["in the garden", "behind the house", "along the fence", "at the allotment", "under the oak tree"],
    doing: ["planted the seeds", "pulled the weeds", "pruned the branches", "watered the beds", "picked the berries", "raked the leaves"],
    qualities: ["green", "muddy", "peaceful", "dry", "bright", "overgrown"],
    reasons: ["the summer had been dry", "the frost came early", "the soil was poor", "the birds ate the seeds", "the rain finally arrived"],
  },
  workshop: {
    people: ["the carpenter", "an apprentice", "my uncle", "the mechanic", "a customer from the village"],
    things: ["the workbench", "a broken chair", "the saw", "a box of nails", "the bicycle wheel", "an old radio"],
    places: ["in the workshop", "at the hardware store", "in the garage", "by the lathe", "in the back room"],
    doing: ["sanded the table", "fixed the hinge", "measured the boards", "tightened the bolts", "sharpened the tools", "glued the frame"],
    qualities: ["dusty", "careful", "loud", "tidy", "patient", "cluttered"],
    reasons: [
      "the wood was still wet",
      "the parts had not arrived",
      "the customer was in a hurry",
      "the design had changed",
      "the old tools were worn out",
    ],
  },
  weather: {
    people: ["the forecaster", "the farmers", "a pilot", "the town council", "people on the beach"],
    things: ["the clouds", "a cold wind", "the heavy rain", "the thunder", "the river", "the snow on the hills"],
    places: ["over the mountains", "along the coast", "in the valley", "across the plains", "near the airport"],
    doing: ["watched the sky", "closed the shutters", "cancelled the flights", "moved the cattle", "cleared the roads", "measured the rainfall"],
    qualities: ["grey", "stormy", "mild", "freezing", "humid", "clear"],
    reasons: [
      "a warm front was moving in",
      "the wind had changed direction",
      "the pressure was falling",
      "the river was rising",
      "the night had been very cold",
    ],
  },
  library: {
    people: ["the librarian", "a student", "the reading group", "an old professor", "the children from the school"],
    things: ["the old maps", "a thick dictionary", "the newspapers", "the card catalogue", "a history book", "the study tables"],
    places: ["in the reading room", "on the top shelf", "at the front desk", "in the basement archive", "near the windows"],
    doing: ["sorted the returns", "read the letters", "copied the notes", "searched the archive", "repaired the covers", "opened the doors"],
    qualities: ["silent", "bright", "old", "busy", "warm", "orderly"],
    reasons: [
      "the exams were coming",
      "the roof had a leak",
      "a new wing was being built",
      "the town wanted a festival",
      "the old records were fading",
    ],
  },
  market: {
    people: ["the traders", "a farmer", "the shoppers", "a street musician", "the cheese seller"],
    things: ["the fruit stalls", "a basket of eggs", "the price signs", "the flowers", "a bag of flour", "the scales"],
    places: ["in the town square", "under the awnings", "by the fountain", "at the corner stall", "near the church"],
    doing: ["set up the stalls", "weighed the apples", "counted the change", "packed the boxes", "swept the square", "called out the prices"],
    qualities: ["lively", "early", "colorful", "crowded", "friendly", "noisy"],
    reasons: [
      "the harvest was good",
      "the road into town was closed",
      "a fair was starting",
      "the prices had dropped",
      "it was the last market of the year",
    ],
  },
};

const TIMES = [
  "in the morning",
  "later that day",
  "after lunch",
  "every evening",
  "on Sunday",
  "the next week",
  "before dawn",
  "in the autumn",
  "at the end of the month",
  "for a long time",
];
const OPENERS = ["Then", "After that", "Meanwhile", "Of course", "In the end", "Still", "For a while", "By then", "Once again", "Around noon"];

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

type Pattern = (t: Topic, r: () => number) => string;

const PATTERNS: Pattern[] = [
  (t, r) => `${cap(pick(r, t.people))} ${pick(r, t.doing)} ${pick(r, t.places)}.`,
  (t, r) => `${pick(r, OPENERS)}, ${pick(r, t.people)} ${pick(r, t.doing)} because ${pick(r, t.reasons)}.`,
  (t, r) => `It was ${pick(r, t.qualities)} ${pick(r, t.places)} ${pick(r, TIMES)}, and ${pick(r, t.people)} ${pick(r, t.doing)}.`,
  (t, r) => `Nobody knew why ${pick(r, t.things)} looked so ${pick(r, t.qualities)} ${pick(r, TIMES)}.`,
  (t, r) => `${cap(pick(r, t.people))} said that ${pick(r, t.reasons)}, so they ${pick(r, t.doing)}.`,
  (t, r) => `${cap(pick(r, TIMES))}, ${pick(r, t.people)} talked about ${pick(r, t.things)} for almost an hour.`,
  (t, r) =>
    `If ${pick(r, t.reasons)}, ${pick(r, t.people)} would have ${pick(r, ["stayed at home", "left much earlier", "asked for help", "waited another day", "changed the plan"])}.`,
  (t, r) => `${cap(pick(r, t.things))} was ${pick(r, t.qualities)}, but ${pick(r, t.people)} did not seem to mind.`,
  (t, r) => `We remember ${pick(r, t.things)} ${pick(r, t.places)}, and how ${pick(r, t.qualities)} everything was.`,
  (t, r) => `${cap(pick(r, t.people))} ${pick(r, t.doing)}, and ${pick(r, t.people)} ${pick(r, t.doing)} ${pick(r, TIMES)}.`,
  (t, r) => `There was a story about ${pick(r, t.things)} that everyone ${pick(r, t.places)} liked to tell.`,
  (t, r) => `Why did ${pick(r, t.people)} leave ${pick(r, t.things)} ${pick(r, t.places)}?`,
];

/** A paragraph: sentences about one topic. */
export type Paragraph = string[];

/**
 * A script of `paragraphs` paragraphs of 3 to 7 sentences, drawn from `topics` (names of TOPICS,
 * all of them when empty). Deterministic in `seed`.
 */
export function generateScript(seed: number, paragraphs: number, topics: readonly string[] = []): Paragraph[] {
  const r = seededRandom(seed);
  const names = topics.length > 0 ? topics : Object.keys(TOPICS);
  const out: Paragraph[] = [];
  for (let p = 0; p < paragraphs; p++) {
    const topic = TOPICS[pick(r, names)];
    if (!topic) throw new Error(`unknown topic in ${names.join(", ")}`);
    const count = 3 + Math.floor(r() * 5);
    const sentences: string[] = [];
    for (let s = 0; s < count; s++) sentences.push(pick(r, PATTERNS)(topic, r));
    out.push(sentences);
  }
  return out;
}

export const TOPIC_NAMES: readonly string[] = Object.keys(TOPICS);
