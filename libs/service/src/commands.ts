import { DomainError, type EventEnvelope, type KeyInput, MAX_COMMAND_BYTES, decideCommand, parseCommand, textDigest } from '@signet/domain';
import { type Keyring, keyInput, verifyDetached } from '@signet/pgp';
import type { SignetLog } from '@signet/store';
import type { Decider } from './decider.js';
import type { TrustProjection } from './projection.js';

export interface CommandResult {
  /** True when this id was seen before with the same bytes: nothing was appended. */
  readonly replayed: boolean;
  readonly events: EventEnvelope[];
}

/** Verify, decide, append: a signed command becomes events, or a DomainError and nothing. */
export class CommandService {
  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly keyring: Keyring,
    private readonly decider: Decider,
  ) {}

  async submit(commandBytes: string, armoredSignature: string): Promise<CommandResult> {
    if (Buffer.byteLength(commandBytes) > MAX_COMMAND_BYTES) throw new DomainError('TOO_LARGE', `a command is at most ${MAX_COMMAND_BYTES} bytes`);
    const command = parseCommand(commandBytes);
    const replay = await this.replayOf(command.id, commandBytes);
    if (replay) return replay;
    try {
      const events = await this.decider.run(async (state) => {
        const actors = await this.keyring.actors(state);
        const signature = await verifyDetached(new TextEncoder().encode(commandBytes), armoredSignature, actors);
        const key: KeyInput | undefined = 'key' in command ? await keyInput(command.key, actors) : undefined;
        return {
          // Certifications were looked for among the keys known then.
          keysSensitive: command.type === 'AddSigningKey' || command.type === 'UpdateSigningKey',
          decide: (current, now) => {
            if (current.commands.has(command.id)) throw new DomainError('DUPLICATE_ID', command.id);
            return decideCommand(current, { command, signer: signature.signer, evidence: { command: commandBytes, signature: armoredSignature }, key }, now);
          },
        };
      });
      return { replayed: false, events };
    } catch (error) {
      // The same command raced in from elsewhere: answer as a replay.
      if (error instanceof DomainError && error.code === 'DUPLICATE_ID') return (await this.replayOf(command.id, commandBytes))!;
      throw error;
    }
  }

  /** The first result of a command id seen before; ID_REUSED when the bytes differ. */
  private async replayOf(id: string, commandBytes: string): Promise<CommandResult | null> {
    // The projection as this process knows it: a command another process logged meanwhile is
    // caught when the decision's append finds the log moved (DUPLICATE_ID on the retry).
    const prior = this.projection.state.commands.get(id);
    if (!prior) return null;
    if (prior.commandSha256 !== textDigest(commandBytes)) throw new DomainError('ID_REUSED', `the command id "${id}" was used before for another command; use a new id`);
    const events = await Promise.all(prior.seqs.map((seq) => this.log.reader.event(seq)));
    return { replayed: true, events: events.filter((e): e is EventEnvelope => e !== null) };
  }
}
