import type { Command } from 'commander';

// Shell completion generated from the command tree itself, so it never drifts from the parser:
// for each command path, its subcommands and its long options (and which of those take a value).

interface Node {
  /** The command path below the program, space-separated ("" for the program itself). */
  readonly path: string;
  readonly commands: { name: string; description: string }[];
  readonly options: { flag: string; description: string; takesValue: boolean }[];
}

function nodes(program: Command): Node[] {
  const out: Node[] = [];
  const walk = (command: Command, path: string) => {
    const options = command.options
      .filter((o) => o.long && !o.hidden)
      .map((o) => ({ flag: o.long!, description: o.description, takesValue: o.required || o.optional }));
    options.push({ flag: '--help', description: 'show help', takesValue: false });
    if (command === program) options.push({ flag: '--version', description: 'print the version', takesValue: false });
    out.push({
      path,
      commands: command.commands.map((c) => ({ name: c.name(), description: c.description() })),
      options,
    });
    for (const sub of command.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return out;
}

/** Quoted for a shell word inside single quotes. */
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const tree = nodes(program);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const valued = [...new Set(tree.flatMap((n) => n.options.filter((o) => o.takesValue).map((o) => o.flag)))];
  // The walk over the words typed so far: the command path, skipping options and their values.
  const pathWalk = (words: string, from: string, to: string) => `  local cmdpath="" w i skip=0
  for ((i = ${from}; i < ${to}; i++)); do
    w="${words}[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      ${valued.join('|')}) skip=1 ;;
      -*) ;;
      *) case "$cmdpath:$w" in
           ${tree
             .flatMap((n) => n.commands.map((c) => quote(`${n.path}:${c.name}`)))
             .join('|')}) cmdpath="\${cmdpath:+$cmdpath }$w" ;;
         esac ;;
    esac
  done`;
  if (shell === 'bash') {
    return `# bash completion for ${name}: eval "$(${name} completion bash)" (e.g. in ~/.bashrc)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" subs="" opts=""
${pathWalk('${COMP_WORDS', '1', 'COMP_CWORD')}
  case "$prev" in
    ${valued.join('|')}) COMPREPLY=(); return ;;
  esac
  case "$cmdpath" in
${tree
  .map(
    (n) =>
      `    ${quote(n.path)}) subs=${quote(n.commands.map((c) => c.name).join(' '))}; opts=${quote(n.options.map((o) => o.flag).join(' '))} ;;`,
  )
  .join('\n')}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ -n "$subs" ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    COMPREPLY=()
  fi
}
complete -o default -F ${fn} ${name}
`;
  }
  const described = (items: { name: string; description: string }[]) =>
    items.map((i) => quote(`${i.name.replace(/:/g, '\\:')}:${i.description}`)).join(' ');
  return `#compdef ${name}
# zsh completion for ${name}: eval "$(${name} completion zsh)" after compinit (e.g. in ~/.zshrc)
${fn}() {
  local -a subs opts
${pathWalk('${words', '2', 'CURRENT')}
  case "\${words[CURRENT-1]}" in
    ${valued.join('|')}) _files; return ;;
  esac
  case "$cmdpath" in
${tree
  .map(
    (n) =>
      `    ${quote(n.path)}) subs=(${described(n.commands)}); opts=(${described(n.options.map((o) => ({ name: o.flag, description: o.description })))}) ;;`,
  )
  .join('\n')}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    _describe -t options option opts
  elif (( \${#subs} )); then
    _describe -t commands command subs
  else
    _files
  fi
}
compdef ${fn} ${name}
`;
}
