import { DomainError, InfrastructureError, type EventEnvelope, checkCommandSize, commandIdUse, decideCommand, idReused, parseCommand } from '@signet/domain';
import { type Keyring, verifyDetached } from '@signet/pgp';
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
    checkCommandSize(commandBytes);
    const command = parseCommand(commandBytes);
    const replay = await this.replayOf(command.id, commandBytes, armoredSignature);
    if (replay) return replay;
    try {
      const events = await this.decider.run(async (state) => {
        const actors = await this.keyring.actors(state);
        const signature = await verifyDetached(new TextEncoder().encode(commandBytes), armoredSignature, actors);
        const key = await this.keyring.commandKey(state, command);
        return {
          // Certifications were looked for among the keys known then.
          keysSensitive: key !== undefined,
          decide: (current, now) => {
            if (commandIdUse(current, command.id, commandBytes) !== 'new') throw new DomainError('DUPLICATE_ID', command.id);
            return decideCommand(current, { command, signer: signature.signer, evidence: { command: commandBytes, signature: armoredSignature }, key }, now);
          },
        };
      });
      return { replayed: false, events };
    } catch (error) {
      // The same command raced in from elsewhere: answer as a replay.
      if (error instanceof DomainError && error.code === 'DUPLICATE_ID') return (await this.replayOf(command.id, commandBytes, armoredSignature))!;
      throw error;
    }
  }

  /**
   * The first result of a command id seen before; ID_REUSED when the bytes differ. A replay is
   * answered only to a signature over the same bytes by the key that sent the command first
   * (BAD_SIGNATURE otherwise): the first result is not given to whoever copies the bytes.
   */
  private async replayOf(id: string, commandBytes: string, armoredSignature: string): Promise<CommandResult | null> {
    // The projection as this process knows it: a command another process logged meanwhile is
    // caught when the decision's append finds the log moved (DUPLICATE_ID on the retry).
    const state = this.projection.state;
    const use = commandIdUse(state, id, commandBytes);
    if (use === 'new') return null;
    if (use === 'ID_REUSED') throw idReused(id);
    const prior = state.commands.get(id)!;
    const events = (await Promise.all(prior.seqs.map((seq) => this.log.reader.event(seq)))).filter((e): e is EventEnvelope => e !== null);
    const actor = events[0]?.actor ?? '';
    const armored = state.members.get(actor)?.key ?? state.policy.rootKeys.find((r) => r.fingerprint === actor)?.key;
    if (!armored) throw new InfrastructureError('CORRUPT_LOG', `command ${id} was logged for ${actor}, a key the log does not hold`);
    try {
      await verifyDetached(new TextEncoder().encode(commandBytes), armoredSignature, [await this.keyring.key(actor, armored)]);
    } catch (error) {
      const reason = error instanceof DomainError && error.code !== 'UNKNOWN_SIGNER' ? error.message : `the signature is not by ${actor}, who sent this command`;
      throw new DomainError('BAD_SIGNATURE', `the command id "${id}" was logged already; a replay must carry a signature by the key that sent it: ${reason}`);
    }
    return { replayed: true, events };
  }
}
