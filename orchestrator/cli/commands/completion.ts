/** `podfleet completion bash|zsh|fish`: a shell completion script built from the command definitions. */
import { Argument, type Command } from "commander";
import { examples, session } from "../command-action.ts";

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script")
    .addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh", "fish"]))
    .addHelpText(
      "after",
      examples([
        "podfleet completion bash > ~/.local/share/bash-completion/completions/podfleet",
        "podfleet completion zsh > ~/.zfunc/_podfleet",
        "podfleet completion fish > ~/.config/fish/completions/podfleet.fish",
      ]),
    )
    .action(async (shell: string) => {
      // the script generator needs no orchestrator code: a plain import, no tsx loader
      const { completionScript } = await import("../completion-script.ts");
      process.stdout.write(completionScript(program, shell as "bash" | "zsh" | "fish"));
      session.exitCode = 0;
    });
}
