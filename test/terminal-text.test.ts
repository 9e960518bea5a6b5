/**
 * Titles from outside reach the operator's terminal only neutralised: ESC/BEL sequences, other C0
 * and C1 controls and bidi overrides become U+FFFD in every human CLI output (jobs list/show,
 * feeds list, error lines), while `--json` keeps the data as it is. Real orchestrator, real CLI.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CONTROL_PLACEHOLDER, safeInline, safeText } from "../orchestrator/cli/terminal-text.ts";
import { table } from "../orchestrator/cli/table.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { runCli } from "./support/cli.ts";
import { api, programmableServer, silentWav, startStack, suiteCleanup } from "./support/ingest-stack.ts";

/** An OSC window-title write, a bell, a colour, a C1 CSI, a right-to-left override and an isolate, a CR and a newline. */
const HOSTILE = "Ep 1 \u001b]0;pwned\u0007\u001b[31mred\u009b2J \u202Eevil\u2066x\u2069\rover\nnext";
/** Anything that must never reach a terminal raw (spelled out as ranges, apart from the code's \p{Cc}). */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const UNSAFE = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

describe("terminal-safe text (pure)", () => {
  test("every control and bidi override becomes the placeholder; printable text stays", () => {
    const inline = safeInline(HOSTILE);
    assert.doesNotMatch(inline, UNSAFE);
    assert.doesNotMatch(inline, /\n/);
    assert.equal(inline, "Ep 1 �]0;pwned��[31mred�2J �evil�x�\u{FFFD}over�next".replaceAll("�", CONTROL_PLACEHOLDER));
    assert.equal(safeText("a\nb\u001b"), `a\nb${CONTROL_PLACEHOLDER}`);
    assert.equal(safeInline("Grüße — «ok» 日本語 🎙"), "Grüße — «ok» 日本語 🎙");
  });

  test("table cells are neutralised and stay on their row", () => {
    const out = table(
      ["ID", "TITLE"],
      [
        ["ep_1", HOSTILE],
        ["ep_2", "plain"],
      ],
    );
    assert.doesNotMatch(out, UNSAFE);
    assert.equal(out.trimEnd().split("\n").length, 3);
  });
});

describe("human CLI output against a real orchestrator", () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let orch: Orchestrator;
  let env: Record<string, string>;
  let episodeId: string;
  before(async () => {
    orch = await startStack(cleanup);
    env = { PODFLEET_URL: orch.url, PODFLEET_TOKEN: orch.adminToken };
    const srv = await programmableServer(cleanup, (req, res) => {
      if (req.url.endsWith(".xml")) {
        // a feed whose title carries a C1 CSI and a right-to-left override (both legal XML characters)
        res
          .writeHead(200, { "content-type": "application/rss+xml" })
          .end(
            `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Show \u009b2J\u202Edrow</title>` +
              `<item><title>x</title><guid>g1</guid><enclosure url="/a.wav" type="audio/wav"/></item></channel></rss>`,
          );
      } else res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(1));
    });
    const submitted = await api(orch.url, "POST", "/v1/episodes", { audioUrl: `${srv.url}/a.wav`, title: HOSTILE });
    assert.equal(submitted.status, 202);
    episodeId = submitted.body.id;
    assert.equal((await api(orch.url, "POST", "/v1/feeds", { url: `${srv.url}/feed.xml` })).status, 201);
  });

  test("jobs list: neutralised; --json keeps the title exactly", async () => {
    const human = await runCli(["jobs", "list"], env, 60_000);
    assert.equal(human.code, 0, human.stderr);
    assert.doesNotMatch(human.stdout, UNSAFE);
    assert.match(human.stdout, new RegExp(`${episodeId}.*Ep 1 ${CONTROL_PLACEHOLDER}\\]0;pwned`));
    const json = await runCli(["jobs", "list", "--json"], env, 60_000);
    assert.equal(json.code, 0, json.stderr);
    const episodes = JSON.parse(json.stdout) as Array<{ id: string; title: string }>;
    assert.equal(episodes.find((e) => e.id === episodeId)?.title, HOSTILE);
  });

  test("jobs show: neutralised, one line per field", async () => {
    const r = await runCli(["jobs", "show", episodeId], env, 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, UNSAFE);
    const titleLines = r.stdout.split("\n").filter((l) => l.startsWith("title"));
    assert.equal(titleLines.length, 1);
    assert.ok(!r.stdout.split("\n").some((l) => l.startsWith("next")), "the title's newline did not start a line of its own");
  });

  test("feeds list: a feed's title is neutralised", async () => {
    const r = await runCli(["feeds", "list"], env, 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, UNSAFE);
    assert.match(r.stdout, new RegExp(`Show ${CONTROL_PLACEHOLDER}2J${CONTROL_PLACEHOLDER}drow`));
  });

  test("an error line quoting outside text is neutralised too", async () => {
    const r = await runCli(["jobs", "show", "ep_\u001b[2Jgone"], env, 60_000);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, UNSAFE);
    assert.match(r.stderr, /^podfleet: /);
  });
});
