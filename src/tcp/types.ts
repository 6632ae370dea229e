/** Public types of the TCP stack: the segment sink, options, counters, session info, states. */
import type { CongestionControlName } from './congestion.js';
import type { MemoryBudget } from './budget.js';

/**
 * Where outgoing segments go. The dataplane implements it: it reserves room for L2+IPv4
 * headers in a TX slot, and after end() it fills IPv4, the TCP checksum (pseudo header) and L2.
 */
export interface SegmentSink {
  /**
   * false = no TX room now: the output device is backlogged (the stack keeps the work and retries
   * on the next flush/tick). A segment that cannot reach its peer (no route, a next hop that does
   * not resolve) is NOT refused: the sink accepts and drops it, and TCP recovers as from a loss,
   * so one unreachable peer never holds up the others. `large`: the
   * stack would like to write a super-segment (several MSS of new data) that the device splits
   * (GSO); the sink then offers a larger `room` if it can. `control`: a segment the stack cannot
   * keep for later (SYN-ACK, RST, the ACK of a TIME_WAIT): the sink queues it behind a backlogged
   * device instead of refusing it.
   */
  begin(localIp: number, remoteIp: number, large?: boolean, control?: boolean): boolean;
  /** The sink can take super-segments (begin with large = true may give room beyond one MTU). */
  readonly gso?: boolean;
  /** Valid after begin() returned true. */
  readonly buf: Buffer;
  /** Where the TCP header starts. */
  readonly off: number;
  /** Max bytes (TCP header + payload) that fit. */
  readonly room: number;
  /** Max bytes (TCP header + payload) of one segment on the wire (= room unless large). */
  readonly segRoom?: number;
  /**
   * The segment is buf[off .. off+tcpLen); the checksum field may be left 0. segSize > 0: a
   * super-segment whose payload goes on the wire in pieces of segSize bytes (the headers,
   * options included, copied to each, the sequence number advanced, PSH/FIN on the last).
   */
  end(tcpLen: number, segSize?: number): void;
  /**
   * Between begin() and end(), for a super-segment: the payload (what would be written at
   * buf[off + header length …]) is data[dataOff .. dataOff+len), and the sink may send it from
   * there instead of having it copied (an iovec into the file cache). true: taken, do not copy
   * (end()'s tcpLen still counts it); false: copy it as usual. `data` must not change until sent.
   */
  attach?(data: Buffer, dataOff: number, len: number): boolean;
  /**
   * An ACK from `remoteIp` advanced snd.una: the path works. The dataplane confirms the next
   * hop's neighbour entry with it (Linux's dst_confirm), so an entry in use never expires.
   */
  confirm?(remoteIp: number): void;
  /**
   * Set by the stack (TcpStack.beginPrivate/endPrivate) while it writes a segment that answers
   * only a segment that failed acceptance or hit no connection (a challenge ACK, the ACK of an
   * unacceptable or out-of-order segment, an RST for no connection): the dataplane counts the frame
   * in its private TX counters too, which the management endpoint subtracts (private-reasons.ts).
   */
  privateTx?: boolean;
}

export interface TcpOptions {
  /** Our MSS (advertised, and the cap on what we send): a number or a function of the local address. */
  mss: number | ((localIp: number) => number);
  /** Receive buffer per connection (bytes); the window scale is derived from it. */
  rcvBuf: number;
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  /** Initial congestion window in segments (RFC 6928). */
  initialCwndSegments: number;
  /**
   * Congestion control (congestion.ts): CUBIC (RFC 9438, the default as in Linux), NewReno, or
   * BBR v1 (bbr.ts: model-based and paced; SACK connections only, CUBIC without SACK).
   */
  congestionControl: CongestionControlName;
  /** RFC 6298 initial RTO, lower and upper bounds (ms). */
  rtoInitial: number;
  rtoMin: number;
  rtoMax: number;
  /** Retransmissions of one segment (or unanswered window probes) before the connection is aborted. */
  maxRetries: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped. */
  synAckRetries: number;
  /** Delayed ACK timer (ms, ≤ 500 per RFC 9293; 40 like Linux). */
  delayedAckMs: number;
  /**
   * TIME_WAIT duration (ms): 60 s as Linux (TCP_TIMEWAIT_LEN), 2 MSL with its MSL of 30 s. A newer
   * SYN (higher TSval, or sequence number without timestamps) may reuse the entry sooner
   * (RFC 6191), as Linux lets it.
   */
  timeWaitMs: number;
  /** How long FIN_WAIT_2 waits for the peer's FIN after our FIN was acknowledged (ms). */
  finWait2Ms: number;
  /** Max half-open (SYN-RECEIVED) connections; beyond it, SYN cookies (or drops). */
  synQueueMax: number;
  synCookies: boolean;
  /** Max connections (not counting TIME_WAIT). */
  maxConnections: number;
  /**
   * Max connections held in TIME_WAIT (Linux's `tcp_max_tw_buckets`). When it is reached, a
   * closing connection gets no TIME_WAIT entry: its last ACK is sent and it is destroyed at once,
   * counted in timeWaitOverflows (Linux's TCPTimeWaitOverflow). That is safe with timestamps: an
   * old duplicate of that connection meets a new incarnation whose TS.Recent is newer (PAWS), and
   * the ISN clock puts the new incarnation's sequence numbers ahead of the old ones.
   */
  maxTimeWait: number;
  /** Keep-alive idle time (ms), 0 = off; interval between probes; probes before abort. */
  keepAliveMs: number;
  keepAliveIntervalMs: number;
  keepAliveProbes: number;
  /** onDrain fires when queuedBytes falls below this after having reached it. */
  sendLowWater: number;
  /**
   * Per connection, at most one ACK per this many ms answers an invalid segment: a challenge ACK
   * (RFC 5961 §7) or the ACK owed for an out-of-window segment without data (Linux's
   * `tcp_invalid_ratelimit`, 500 ms). There is deliberately no stack-wide challenge-ACK budget:
   * a shared budget is an oracle (CVE-2016-5696: an off-path host counts the challenge ACKs its
   * own connection gets and learns whether a spoofed RST hit another one); Linux turned its
   * global limit off by default (`tcp_challenge_ack_limit` = INT_MAX) for the same reason.
   */
  invalidAckIntervalMs: number;
  /** 24+ bytes of key material for ISNs, cookies and timestamp offsets (tests); random by default. */
  secret: Buffer | undefined;
  /**
   * The memory budget for buffered bytes and the per-source limits (budget.ts); one is made
   * with DEFAULT_MEMORY when absent. Several stacks (worker threads, later) may share one.
   */
  memory: MemoryBudget | undefined;
  /**
   * Tests only: picks each connection's ISN instead of RFC 6528's clock plus keyed hash (e.g. one
   * just below 2^32 to test the sequence wrap). SYN cookies ignore it; TIME_WAIT reuse still
   * raises it above the old connection's sequence space.
   */
  isnFor: ((localIp: number, localPort: number, remoteIp: number, remotePort: number) => number) | undefined;
  /**
   * Called when a connection gets output to send outside input()/flush()/tick() (an application
   * write from an asynchronous callback): the caller should arrange a flush() soon.
   */
  onWork: (() => void) | undefined;
  /**
   * The owner of the 32-bit addresses, when they are handles of something larger (IPv6 peers,
   * dataplane/ip6-peers.ts): every connection, TIME_WAIT entry and listener holds its addresses
   * (hold on creation, release when it goes), and ISNs, SYN cookies and timestamp offsets hash
   * `digest(ip)`, which depends on the address itself, not on the handle it has today (a
   * handle may change between a SYN answered with a cookie and its ACK). Absent: plain IPv4.
   */
  addresses: TcpAddressOwner | undefined;
}

export interface TcpAddressOwner {
  hold(ip: number): void;
  release(ip: number): void;
  digest(ip: number): number;
  /** The 16-byte address of an IPv6 handle (per-source limits key on it: handles differ between threads). */
  address?(ip: number): Buffer | undefined;
  /** The zone of a link-local IPv6 handle (its interface's index + 1): per-source limits key on it. */
  zoneOf?(ip: number): number;
}

export const DEFAULT_OPTIONS: TcpOptions = {
  mss: 1460,
  rcvBuf: 256 * 1024,
  windowScaling: true,
  timestamps: true,
  sack: true,
  initialCwndSegments: 10,
  congestionControl: 'cubic',
  rtoInitial: 1000,
  rtoMin: 200,
  rtoMax: 60000,
  maxRetries: 8,
  synAckRetries: 5,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2Ms: 30000,
  synQueueMax: 1024,
  synCookies: true,
  maxConnections: 100000,
  maxTimeWait: 50000,
  keepAliveMs: 0,
  keepAliveIntervalMs: 75000,
  keepAliveProbes: 9,
  sendLowWater: 64 * 1024,
  invalidAckIntervalMs: 500,
  secret: undefined,
  memory: undefined,
  isnFor: undefined,
  onWork: undefined,
  addresses: undefined,
};

/** One row of `show session`. */
export interface SessionInfo {
  localIp: number;
  localPort: number;
  remoteIp: number;
  remotePort: number;
  /** "a.b.c.d:port" */
  local: string;
  remote: string;
  /** RFC 9293 state name, e.g. "ESTABLISHED". */
  state: string;
  /** Bytes queued for sending (unacknowledged + unsent). */
  sendQueue: number;
  /** Bytes received and not yet delivered (out-of-order + held while paused). */
  recvQueue: number;
  /** Smoothed RTT and current RTO (ms); srtt is 0 before the first sample. */
  srtt: number;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  sndWnd: number;
  rcvWnd: number;
  mss: number;
  /** The congestion control's own state, when it has one to show (bbr: mode, BtlBw, RTprop, pacing rate). */
  congestion?: string;
}

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  dataSegmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  /** RFC 8985 §7 tail loss probes sent (SACK connections). */
  tailLossProbes: number;
  /** Segments RACK (RFC 8985) deemed lost from the send times of delivered segments. */
  rackLost: number;
  /** Retransmissions that were themselves deemed lost (repaired without waiting for an RTO). */
  lostRetransmits: number;
  /** RFC 6675 rescue retransmissions (the highest unSACKed segment at the end of recovery). */
  rescueRetransmits: number;
  /** Times a bbr connection's pacer held a send back until its deadline. */
  pacerWaits: number;
  /** Connections configured for bbr whose peer did not agree to SACK: they run CUBIC instead. */
  bbrWithoutSack: number;
  /** RFC 3042 limited transmit and RFC 5827 early retransmit (connections without SACK). */
  limitedTransmits: number;
  earlyRetransmits: number;
  /** ACKs whose first SACK block was a D-SACK (RFC 2883): the peer got a segment twice. */
  dsacksIn: number;
  /** Segments we sent with a D-SACK block (RFC 2883, dsack.ts): the peer sent us data twice. */
  dsacksOut: number;
  /** Recoveries undone as spurious (spurious.ts), by the detector that found out. */
  undoDsack: number;
  undoEifel: number;
  undoFrto: number;
  rstIn: number;
  rstOut: number;
  /**
   * Of segmentsOut / rstOut: those that answer only a segment that failed acceptance or hit no
   * connection (TcpStack.beginPrivate). /metrics exports segmentsOut − privateSegmentsOut (and
   * rstOut − privateRstOut): see private-reasons.ts.
   */
  privateSegmentsOut: number;
  privateRstOut: number;
  challengeAcks: number;
  passiveOpens: number;
  activeOpens: number;
  synAckRetransmits: number;
  cookiesSent: number;
  cookiesAccepted: number;
  outOfOrderSegments: number;
  duplicateSegments: number;
  timeWaitReused: number;
  /** Closing connections that got no TIME_WAIT entry because maxTimeWait was reached. */
  timeWaitOverflows: number;
  windowProbes: number;
  keepAliveProbes: number;
  /** Current counts. */
  connections: number;
  synReceived: number;
  established: number;
  timeWait: number;
}

export function newCounters(): TcpCounters {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    dataSegmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    tailLossProbes: 0,
    rackLost: 0,
    lostRetransmits: 0,
    rescueRetransmits: 0,
    pacerWaits: 0,
    bbrWithoutSack: 0,
    limitedTransmits: 0,
    earlyRetransmits: 0,
    dsacksIn: 0,
    dsacksOut: 0,
    undoDsack: 0,
    undoEifel: 0,
    undoFrto: 0,
    rstIn: 0,
    rstOut: 0,
    privateSegmentsOut: 0,
    privateRstOut: 0,
    challengeAcks: 0,
    passiveOpens: 0,
    activeOpens: 0,
    synAckRetransmits: 0,
    cookiesSent: 0,
    cookiesAccepted: 0,
    outOfOrderSegments: 0,
    duplicateSegments: 0,
    timeWaitReused: 0,
    timeWaitOverflows: 0,
    windowProbes: 0,
    keepAliveProbes: 0,
    connections: 0,
    synReceived: 0,
    established: 0,
    timeWait: 0,
  };
}

// Connection states (RFC 9293 §3.3.2).
export const CLOSED = 0;
export const LISTEN = 1;
export const SYN_SENT = 2;
export const SYN_RECEIVED = 3;
export const ESTABLISHED = 4;
export const FIN_WAIT_1 = 5;
export const FIN_WAIT_2 = 6;
export const CLOSE_WAIT = 7;
export const CLOSING = 8;
export const LAST_ACK = 9;
export const TIME_WAIT = 10;

export const STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RECEIVED',
  'ESTABLISHED',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
];

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** A received segment, decoded once by the stack and reused. */
export class Segment {
  srcIp = 0;
  dstIp = 0;
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** Raw (unscaled) window field. */
  wnd = 0;
  buf: Buffer = Buffer.alloc(0);
  /** Absolute offset of the payload in buf, and its length. */
  dataOff = 0;
  dataLen = 0;
}
