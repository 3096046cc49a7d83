import type { Plan, Step } from "../core/plan.js";
import type { ConsoleRequest, JailSpec, LiveJail } from "../core/jail.js";
import type { JailRecord } from "../core/record.js";
import type { HostLayout } from "../core/paths.js";

/**
 * The only code that touches the system. One implementation per OS
 * (src/platform/freebsd, src/platform/linux); commands get one from
 * src/platform/index.ts and never branch on the OS themselves.
 *
 * Lifecycle methods come in pairs: `planX` returns what would be done (printed
 * by --dry-run and pinned by golden tests); `x` does it.
 */
export interface Platform {
  readonly name: "freebsd" | "linux";
  /** Physical root under which every logical host path lives ("/" normally). */
  readonly root: string;
  /** True when `run` steps are only printed, not executed (FreeBSD plans under --root). */
  readonly simulated?: boolean;
  /**
   * Refuse, at create, a jail this backend could never start (Linux: the
   * interface is not a bridge, the address is the jail network's gateway),
   * with the same refusal start would give. Optional: no check.
   */
  checkNewJail?(
    name: string,
    record: Pick<JailRecord, "ip4" | "ip6" | "interface"> & Partial<Pick<JailRecord, "imagetype">>,
    layout: HostLayout,
  ): void;
  /** Execute a plan (file steps, and `run` steps where this platform can). */
  apply(plan: Plan): Promise<void>;
  /** Every running jail, from one query (one `jls --libxo json` on FreeBSD). */
  liveJails(): Promise<Map<string, LiveJail>>;
  /** The interface jail addresses go on when `create` gets no `-n nic`. */
  defaultJailInterface(): Promise<string>;
  planStart(jail: JailSpec): Plan;
  start(jail: JailSpec): Promise<void>;
  planStop(jail: JailSpec): Plan;
  stop(jail: JailSpec): Promise<void>;
  planConsole(jail: JailSpec, req: ConsoleRequest): Plan;
  /** Attach the caller's stdio to the jail; resolves to the exit status of the shell or command. */
  console(jail: JailSpec, req: ConsoleRequest): Promise<number>;
  /**
   * Remove a jail's root tree for `delete`: refuses while anything is mounted
   * below it, clears file flags first where the OS has them (FreeBSD's schg).
   * Optional: a backend without it leaves delete to safe-fs's tree removal.
   */
  removeJailTree?(rootPath: string): Promise<void>;
  /** The steps removeJailTree runs, for --dry-run (FreeBSD: mount -p, chflags -x -R 0, rm). */
  planRemoveJailTree?(rootPath: string): Step[];
}
