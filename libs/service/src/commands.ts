import { type Clock, DomainError, type EventEnvelope, type KeyInput, MAX_COMMAND_BYTES, decideCommand, parseCommand } from '@signet/domain';
import { certificationsBy, readPublicKey, verifyDetached } from '@signet/pgp';
import type { SignetLog } from '@signet/store';
import type { Keyring } from './keyring.js';
import { Mutex } from './mutex.js';
import type { TrustProjection } from './projection.js';

export interface CommandResult {
  /** True when this id was seen before with the same bytes: nothing was appended. */
  readonly replayed: boolean;
  readonly events: EventEnvelope[];
}

const MAX_ATTEMPTS = 5;

/** Verify, decide, append: a signed command becomes events, or a DomainError and nothing. */
export class CommandService {
  private readonly decisions = new Mutex();

  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
  ) {}

  async submit(commandBytes: string, armoredSignature: string): Promise<CommandResult> {
    if (Buffer.byteLength(commandBytes) > MAX_COMMAND_BYTES) throw new DomainError('TOO_LARGE', `a command is at most ${MAX_COMMAND_BYTES} bytes`);
    const command = parseCommand(commandBytes);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const state = await this.projection.catchUp();
      const prior = state.commands.get(command.id);
      if (prior) {
        if (prior.command !== commandBytes) throw new DomainError('ID_REUSED', `the command id "${command.id}" was used before for another command; use a new id`);
        const events = await Promise.all(prior.seqs.map((seq) => this.log.reader.event(seq)));
        return { replayed: true, events: events.filter((e): e is EventEnvelope => e !== null) };
      }
      // Verification reads the state (who may sign) but not under the lock: it is the slow part.
      const actors = await this.keyring.actors(state);
      const signature = await verifyDetached(new TextEncoder().encode(commandBytes), armoredSignature, actors);
      let key: KeyInput | undefined;
      if ('key' in command) {
        const read = await readPublicKey(command.key);
        key = { facts: read.facts, certifications: await certificationsBy(read.key, actors) };
      }
      const result = await this.decisions.run(async () => {
        const current = await this.projection.catchUp();
        if (current.size !== state.size) return null; // the state moved while verifying: again
        const drafts = decideCommand(current, { command, signer: signature.signer, evidence: { command: commandBytes, signature: armoredSignature }, key }, this.clock.now());
        try {
          const events = await this.log.writer.append(drafts, { expectedSize: current.size });
          this.projection.apply(events);
          return events;
        } catch (error) {
          if (error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED') return null; // another process appended
          throw error;
        }
      });
      if (result) return { replayed: false, events: result };
    }
    throw new DomainError('LOG_BUSY', 'the log kept changing while this command was decided; send it again');
  }
}
