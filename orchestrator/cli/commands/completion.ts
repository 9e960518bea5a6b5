/** `podfleet completion bash|zsh|fish`: a shell completion script built from the command definitions. */
import { Argument, type Command } from "commander";
import { session } from "../command-action.ts";
import { examples } from "../command-action.ts";

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script")
    .addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh", "fish"]))
    .addHelpText(
      "after",
      examples(["source <(podfleet completion bash)      # in ~/.bashrc", "podfleet completion zsh > ~/.zfunc/_podfleet", "podfleet completion fish > ~/.config/fish/completions/podfleet.fish"]),
    )
    .action(async (shell: string) => {
      // the script generator needs no orchestrator code: a plain import, no tsx loader
      const { completionScript } = await import("../completion-script.ts");
      process.stdout.write(completionScript(program, shell as "bash" | "zsh" | "fish"));
      session.exitCode = 0;
    });
}
