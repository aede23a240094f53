import {
  DomainError,
  type DomainErrorCode,
  type EventEnvelope,
  InfrastructureError,
  type TrustState,
  checkCommandSize,
  commandIdUse,
  decideCommand,
  idReused,
  parseCommand,
  READS_CERTIFICATIONS,
} from '@signet/domain';
import type { Command, KeyInput } from '@signet/domain';
import { type KeyRef, type Keyring, type VerifyPool, signatureIssuer, verifyDetached } from '@signet/pgp';
import type { SignetLog } from '@signet/store';
import type { TrustProjection } from '../sequencer/projection.js';
import { type Decision, STALE, type Sequencer } from '../sequencer/sequencer.js';

export interface CommandResult {
  /** True when this id was seen before with the same bytes: nothing was appended. */
  readonly replayed: boolean;
  readonly events: EventEnvelope[];
}

/** Times a command is prepared again because the key set changed under it before it gives up. */
const MAX_PREPARES = 20;

const encoder = new TextEncoder();

/**
 * A signed command's way into the log: parsed, its signature verified on a worker thread, then
 * decided by the sequencer in turn with the others and appended — or a DomainError and nothing.
 */
export class CommandService {
  /** Signature checks in flight. */
  private verifying = 0;
  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly keyring: Keyring,
    private readonly sequencer: Sequencer,
    private readonly pool: VerifyPool,
  ) {}

  async submit(commandBytes: string, armoredSignature: string): Promise<CommandResult> {
    checkCommandSize(commandBytes);
    const command = parseCommand(commandBytes);
    const replay = await this.replayOf(command.id, commandBytes, armoredSignature);
    if (replay) return replay;
    for (let attempt = 0; attempt < MAX_PREPARES; attempt++) {
      const decision = await this.prepare(command, commandBytes, armoredSignature);
      const events = await this.sequencer.decide(decision);
      if (events === STALE) {
        // Other keys were added meanwhile: step aside a little, more each time, then prepare again.
        await new Promise((r) => setTimeout(r, Math.random() * 2 * (attempt + 1)));
        continue;
      }
      if (events.length === 0) {
        // The same command raced in (another request, another process): answer as a replay.
        const again = await this.replayOf(command.id, commandBytes, armoredSignature);
        if (again) return again;
      }
      return { replayed: false, events };
    }
    throw new InfrastructureError(
      'LOG_BUSY',
      'the keys of the log kept changing while this was decided; send it again',
    );
  }

  /**
   * The slow, state-dependent part, concurrently with other commands: the signature checked on
   * a worker thread against the key it names, the key block the command carries read. An
   * unknown signer is only refused on a state caught up with the log.
   */
  private async prepare(command: Command, commandBytes: string, armoredSignature: string): Promise<Decision> {
    const issuer = await signatureIssuer(armoredSignature);
    let state = this.projection.state;
    let candidates = await this.keyring.actorsWithKeyId(state, issuer);
    if (candidates.length === 0) {
      state = await this.projection.catchUp();
      candidates = await this.keyring.actorsWithKeyId(state, issuer);
    }
    const signer = await this.verify(commandBytes, armoredSignature, candidates);
    // The projection's state changes in place as appends are folded: the key set is the one at
    // the moment the command's key block is read against it (commandKey takes it at the call).
    let keysVersion = state.keysVersion;
    let key: KeyInput | undefined;
    try {
      key = await this.keyring.commandKey(state, command);
    } catch (error) {
      // A revocation certificate for a signing key added through another process: look again.
      if (!(error instanceof DomainError && error.code === 'UNKNOWN_SIGNING_KEY')) throw error;
      state = await this.projection.catchUp();
      keysVersion = state.keysVersion;
      key = await this.keyring.commandKey(state, command);
    }
    const evidence = { command: commandBytes, signature: armoredSignature };
    return {
      // The certifications on a signing key block were looked for among the keys known then:
      // decided on another key set, the auditor's replay would find others.
      keysVersion: key !== undefined && READS_CERTIFICATIONS.has(command.type) ? keysVersion : null,
      decide: (current, now) => {
        // Already logged (a race with the same command): nothing to append; answered as a replay.
        if (commandIdUse(current, command.id, commandBytes) !== 'new') return [];
        return decideCommand(current, { command, signer, evidence, key }, now);
      },
    };
  }

  /** The fingerprint of the key among `keys` whose signature over the command verifies. */
  private async verify(commandBytes: string, armoredSignature: string, keys: readonly KeyRef[]): Promise<string> {
    const data = encoder.encode(commandBytes);
    // Alone, a command is checked here: a hop to a thread only adds to its latency. With others
    // in flight, the threads check them in parallel while this thread sequences.
    if (this.verifying === 0) {
      this.verifying++;
      try {
        const parsed = await Promise.all(keys.map((k) => this.keyring.key(k.fingerprint, k.armored)));
        return (await verifyDetached(data, armoredSignature, parsed)).signer;
      } finally {
        this.verifying--;
      }
    }
    this.verifying++;
    try {
      const result = await this.pool.verify({ kind: 'detached', data, signature: armoredSignature, keys });
      if (!result.ok) throw new DomainError(result.code as DomainErrorCode, result.message);
      return result.signer;
    } finally {
      this.verifying--;
    }
  }

  /**
   * The first result of a command id seen before; ID_REUSED when the bytes differ. A replay is
   * answered only to a signature over the same bytes by the key that sent the command first
   * (BAD_SIGNATURE otherwise): the first result is not given to whoever copies the bytes.
   */
  private async replayOf(id: string, commandBytes: string, armoredSignature: string): Promise<CommandResult | null> {
    // The projection as this process knows it: a command another process logged meanwhile is
    // found by the sequencer, which decides only on a state caught up with the log.
    const state: TrustState = this.projection.state;
    const use = commandIdUse(state, id, commandBytes);
    if (use === 'new') return null;
    if (use === 'ID_REUSED') throw idReused(id);
    const prior = state.commands.get(id)!;
    const events = (await Promise.all(prior.seqs.map((seq) => this.log.reader.event(seq)))).filter(
      (e): e is EventEnvelope => e !== null,
    );
    const actor = events[0]?.actor ?? '';
    const armored = state.members.get(actor)?.key ?? state.policy.rootKeys.find((r) => r.fingerprint === actor)?.key;
    if (!armored)
      throw new InfrastructureError(
        'CORRUPT_LOG',
        `command ${id} was logged for ${actor}, a key the log does not hold`,
      );
    try {
      await this.verify(commandBytes, armoredSignature, [{ fingerprint: actor, armored }]);
    } catch (error) {
      const reason =
        error instanceof DomainError && error.code !== 'UNKNOWN_SIGNER'
          ? error.message
          : `the signature is not by ${actor}, who sent this command`;
      throw new DomainError(
        'BAD_SIGNATURE',
        `the command id "${id}" was logged already; a replay must carry a signature by the key that sent it: ${reason}`,
      );
    }
    return { replayed: true, events };
  }
}
