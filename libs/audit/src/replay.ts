import {
  type Announcement,
  ANNOUNCEMENT_CAUSES,
  DomainError,
  InfrastructureError,
  type EventDraft,
  type EventEnvelope,
  type KeyInput,
  type ModuleSignaturePublished,
  type PackageSignaturePublished,
  type TrustState,
  announcementFor,
  archiveSnapshotRefusal,
  canonicalize,
  commandIdUse,
  continuityAlerts,
  decideActivation,
  decideAnnouncementFailed,
  decideAnnouncementPosted,
  decideCommand,
  decideModuleSignature,
  decidePackageSignature,
  emptyState,
  evolve,
  genesisDraft,
  parseCommand,
} from '@signet/domain';
import { Keyring } from '@signet/pgp';
import type { VerifyResult } from '@signet/pgp';

/** A discrepancy between the log and what its history implies: where, and what differs. */
export class AuditError extends Error {
  constructor(
    readonly seq: number | null,
    readonly code: string,
    message: string,
  ) {
    super(seq === null ? message : `seq ${seq}: ${message}`);
  }
}

/** What the replay kept besides the trust state: enough to resume it. */
export interface ReplayMemory {
  /** The announcement each cause event called for (by its seq), for the announcer's outcomes. */
  readonly announcements: [number, Announcement | null][];
  /** Events of a command decided but not all read yet (a command's events may span a tile boundary). */
  readonly expected: EventDraft[];
  readonly expectedAt: string | null;
  readonly counts: Record<string, number>;
  /** Package signatures whose artifact was not available: checked by the rules, the signature not re-verified. */
  readonly notReverified: number[];
  /** Archive snapshots: their rules are checked, the pages are not re-rendered. */
  readonly archives: number;
}

const fields = (e: EventDraft) => ({
  type: e.type,
  v: e.v,
  stream: e.stream,
  actor: e.actor,
  data: e.data,
  evidence: e.evidence,
});

/** Which field of an event differs from the one the rules produce, in words. */
function difference(event: EventEnvelope, draft: EventDraft): string | null {
  const got = fields(event);
  const want = fields(draft);
  if (canonicalize(got) === canonicalize(want)) return null;
  for (const key of Object.keys(want) as (keyof typeof want)[]) {
    if (canonicalize(got[key] ?? null) !== canonicalize(want[key] ?? null)) {
      return `its ${key} is ${canonicalize(got[key] ?? null).slice(0, 300)}; the rules give ${canonicalize(want[key] ?? null).slice(0, 300)}`;
    }
  }
  return 'it differs from what the rules give';
}

/**
 * Re-runs the log's decisions, event by event and in order, on the state so far: each signed
 * command is parsed from its evidence and decided again by the pure domain rules at the time the
 * log recorded it; the events the log wrote must be exactly the events the rules give. Package and
 * module signatures are decided again from their verified facts; the log's own outcomes
 * (announcements, activations, continuity alerts) must be ones the rules allow at that point.
 * Signature verification happens outside (on worker threads) and comes in as results.
 */
export class Replayer {
  readonly state: TrustState;
  private readonly announcements: Map<number, Announcement | null>;
  private expected: EventDraft[];
  private expectedAt: string | null;
  private readonly counts: Record<string, number>;
  private readonly notReverified: number[];
  private archives: number;
  private readonly keyring = new Keyring();
  /** Called after a SigningKeyAdded is folded in (an audit moves the key's history to disk). */
  onKeyAdded: (() => void) | null = null;

  constructor(
    private readonly verifierKey: string,
    from?: { state: TrustState; memory: ReplayMemory },
    /** The auditor's clock: no event may be recorded after it (plus `skewMs`). */
    private readonly now: () => Date = () => new Date(),
    private readonly skewMs = 10 * 60_000,
  ) {
    this.state = from?.state ?? emptyState();
    const memory = from?.memory;
    this.announcements = new Map(memory?.announcements ?? []);
    this.expected = [...(memory?.expected ?? [])];
    this.expectedAt = memory?.expectedAt ?? null;
    this.counts = { ...(memory?.counts ?? {}) };
    this.notReverified = [...(memory?.notReverified ?? [])];
    this.archives = memory?.archives ?? 0;
  }

  memory(): ReplayMemory {
    return {
      announcements: [...this.announcements],
      expected: [...this.expected],
      expectedAt: this.expectedAt,
      counts: { ...this.counts },
      notReverified: [...this.notReverified],
      archives: this.archives,
    };
  }

  /** True while a command's events are still to come (a size inside a command is not a decision point). */
  get midCommand(): boolean {
    return this.expected.length > 0;
  }

  /** Checks one event (with the result of verifying its signature, when it has one) and folds it in. */
  async accept(event: EventEnvelope, verified: VerifyResult | null): Promise<void> {
    if (event.seq !== this.state.size)
      throw new AuditError(event.seq, 'OUT_OF_ORDER', `expected seq ${this.state.size}`);
    // The log's time decides everything (waiting periods, compromise times): it only moves forward.
    if (event.recordedAt < this.state.lastRecordedAt)
      throw new AuditError(
        event.seq,
        'TIME_WENT_BACK',
        `recorded at ${event.recordedAt}, before the event before it (${this.state.lastRecordedAt})`,
      );
    if (Date.parse(event.recordedAt) > this.now().getTime() + this.skewMs)
      throw new AuditError(event.seq, 'FUTURE_EVENT', `recorded at ${event.recordedAt}, after this auditor's time`);
    if (this.expected.length > 0) this.checkExpected(event);
    else if (event.seq === 0) this.checkGenesis(event);
    else if (event.evidence) await this.checkCommand(event, verified);
    else if (event.type === 'PackageSignaturePublished') this.checkPackageSignature(event, verified);
    else if (event.type === 'ModuleSignaturePublished') this.checkModuleSignature(event, verified);
    else if (event.actor === 'log') this.checkOutcome(event);
    else
      throw new AuditError(
        event.seq,
        'UNEXPECTED_EVENT',
        `a ${event.type} by ${event.actor} with no signed command: no rule of the log writes it`,
      );
    evolve(this.state, event);
    if (event.type === 'SigningKeyAdded') this.onKeyAdded?.();
    this.counts[event.type] = (this.counts[event.type] ?? 0) + 1;
    if (ANNOUNCEMENT_CAUSES.has(event.type)) this.announcements.set(event.seq, announcementFor(this.state, event));
  }

  private match(event: EventEnvelope, drafts: EventDraft[], what: string): void {
    if (drafts.length === 0)
      throw new AuditError(
        event.seq,
        'UNEXPECTED_EVENT',
        `${what}: the rules give no event here, the log has a ${event.type}`,
      );
    const diff = difference(event, drafts[0]!);
    if (diff)
      throw new AuditError(
        event.seq,
        'EVENT_MISMATCH',
        `${what}: the log has a ${event.type}, the rules give a ${drafts[0]!.type}; ${diff}`,
      );
  }

  private checkExpected(event: EventEnvelope): void {
    if (event.recordedAt !== this.expectedAt)
      throw new AuditError(
        event.seq,
        'EVENT_MISMATCH',
        `an event of the command before is recorded at ${event.recordedAt}, the command at ${this.expectedAt}`,
      );
    this.match(event, this.expected, 'the command before implies this event');
    this.expected.shift();
    if (this.expected.length === 0) this.expectedAt = null;
  }

  private checkGenesis(event: EventEnvelope): void {
    if (event.type !== 'LogCreated') throw new AuditError(0, 'BAD_GENESIS', `seq 0 is a ${event.type}, not LogCreated`);
    const { data } = event;
    const pinnedOrigin = this.verifierKey.split('+')[0];
    if (data.verifierKey !== this.verifierKey) {
      const why = `the log was created with the verifier key ${data.verifierKey}, not the pinned ${this.verifierKey}`;
      throw new AuditError(0, 'BAD_GENESIS', why);
    }
    if (data.origin !== pinnedOrigin) {
      const why = `the log was created as ${data.origin}, not as the pinned key's ${pinnedOrigin}`;
      throw new AuditError(0, 'BAD_GENESIS', why);
    }
    let draft: EventDraft;
    try {
      draft = genesisDraft(data);
    } catch (error) {
      throw new AuditError(0, 'BAD_GENESIS', `the genesis policy is not valid: ${(error as Error).message}`);
    }
    this.match(event, [draft], 'the genesis');
  }

  private async checkCommand(event: EventEnvelope, verified: VerifyResult | null): Promise<void> {
    const evidence = event.evidence!;
    if (!verified?.ok) {
      throw new AuditError(
        event.seq,
        'BAD_EVIDENCE',
        `the signature over the command does not verify with ${event.actor}'s key: ${verified && !verified.ok ? `${verified.code}: ${verified.message}` : 'not checked'}`,
      );
    }
    if (verified.signer !== event.actor)
      throw new AuditError(
        event.seq,
        'BAD_EVIDENCE',
        `the command is signed by ${verified.signer}, the event names ${event.actor}`,
      );
    let command;
    try {
      command = parseCommand(evidence.command);
    } catch (error) {
      throw new AuditError(event.seq, 'BAD_EVIDENCE', `the signed command cannot be read: ${(error as Error).message}`);
    }
    if (commandIdUse(this.state, command.id, evidence.command) !== 'new')
      throw new AuditError(event.seq, 'DUPLICATE_COMMAND', `the command id ${command.id} was already decided`);
    let key: KeyInput | undefined;
    try {
      key = await this.keyring.commandKey(this.state, command);
    } catch {
      key = undefined; // the rules refuse a command without a readable key
    }
    let drafts: EventDraft[];
    try {
      drafts = decideCommand(
        this.state,
        { command, signer: verified.signer, evidence, key },
        new Date(event.recordedAt),
      );
    } catch (error) {
      const code = error instanceof DomainError || error instanceof InfrastructureError ? error.code : 'ERROR';
      throw new AuditError(
        event.seq,
        'REFUSED_BY_RULES',
        `the log appended a ${command.type} command that the rules refuse (${code}: ${(error as Error).message})`,
      );
    }
    this.match(event, drafts, `the ${command.type} command`);
    this.expected = drafts.slice(1);
    this.expectedAt = this.expected.length > 0 ? event.recordedAt : null;
  }

  private checkPackageSignature(event: EventEnvelope<PackageSignaturePublished>, verified: VerifyResult | null): void {
    const { data } = event;
    if (verified === null) this.notReverified.push(event.seq);
    else if (!verified.ok)
      throw new AuditError(
        event.seq,
        'BAD_SIGNATURE',
        `the package signature does not verify over the archived artifact: ${verified.code}: ${verified.message}`,
      );
    else if (verified.signer !== data.signer || verified.created !== data.signatureCreated) {
      throw new AuditError(
        event.seq,
        'BAD_SIGNATURE',
        `the package signature is by ${verified.signer} at ${verified.created}; the event says ${data.signer} at ${data.signatureCreated}`,
      );
    }
    // From the known fields only: anything else in the event's data is then a mismatch.
    const input = {
      package: data.package,
      version: data.version,
      artifactSha512: data.artifactSha512,
      artifactSize: data.artifactSize,
      signer: data.signer,
      signatureCreated: data.signatureCreated,
      signature: data.signature,
    };
    this.match(
      event,
      this.decide(event, () => decidePackageSignature(this.state, input, new Date(event.recordedAt))),
      'the package signature',
    );
  }

  private checkModuleSignature(event: EventEnvelope<ModuleSignaturePublished>, verified: VerifyResult | null): void {
    const { data } = event;
    if (!verified?.ok || verified.text === null) {
      throw new AuditError(
        event.seq,
        'BAD_SIGNATURE',
        `the module.sig clear signature does not verify with ${data.signer}'s key: ${verified && !verified.ok ? `${verified.code}: ${verified.message}` : 'not checked'}`,
      );
    }
    const input = {
      module: data.module,
      version: data.version,
      signer: verified.signer,
      signatureCreated: verified.created,
      text: verified.text,
      moduleSig: data.moduleSig,
    };
    this.match(
      event,
      this.decide(event, () => decideModuleSignature(this.state, input, new Date(event.recordedAt))),
      'the module signature',
    );
  }

  /** The log's own outcomes: each must be one the rules allow on the state at that point. */
  private checkOutcome(event: EventEnvelope): void {
    const at = new Date(event.recordedAt);
    switch (event.type) {
      case 'AnnouncementPosted':
      case 'AnnouncementFailed': {
        const { cause, channel } = event.data;
        const announcement = this.announcements.get(cause) ?? null;
        if (!announcement) {
          throw new AuditError(event.seq, 'UNEXPECTED_EVENT', `an announcement for seq ${cause}, which calls for none`);
        }
        const drafts =
          event.type === 'AnnouncementPosted'
            ? decideAnnouncementPosted(this.state, channel, cause, announcement, event.data.url)
            : decideAnnouncementFailed(this.state, channel, cause, announcement, event.data.error, event.data.attempts);
        this.match(event, drafts, 'the announcement');
        return;
      }
      case 'SigningKeyActivated':
        this.match(event, decideActivation(this.state, event.data.fingerprint, at).events, 'the activation');
        return;
      case 'ContinuityAlertRaised': {
        const fpr = event.data.fingerprint;
        const alerts = continuityAlerts(this.state).filter(
          (d) => d.type === 'ContinuityAlertRaised' && d.data.fingerprint === fpr,
        );
        this.match(event, alerts, 'the continuity alert');
        return;
      }
      case 'ArchiveSnapshotTaken': {
        const refusal = archiveSnapshotRefusal(this.state, event.seq, event.data);
        if (refusal) throw new AuditError(event.seq, 'EVENT_MISMATCH', refusal);
        this.archives++;
        return;
      }
      default:
        throw new AuditError(
          event.seq,
          'UNEXPECTED_EVENT',
          `a ${event.type} by the log with no command: no rule of the log writes it`,
        );
    }
  }

  private decide(event: EventEnvelope, decide: () => EventDraft[]): EventDraft[] {
    try {
      return decide();
    } catch (error) {
      const code = error instanceof DomainError || error instanceof InfrastructureError ? error.code : 'ERROR';
      throw new AuditError(
        event.seq,
        'REFUSED_BY_RULES',
        `the log appended a ${event.type} that the rules refuse (${code}: ${(error as Error).message})`,
      );
    }
  }

  summary() {
    return {
      counts: { ...this.counts },
      packageSignaturesNotReverified: [...this.notReverified],
      archiveSnapshotsNotReRendered: this.archives,
    };
  }
}
