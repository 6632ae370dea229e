/**
 * What a graph node may use: the vector, the interfaces, the neighbours, the FIB, the output
 * paths and the tracing hooks. Nodes import this type, never the Dataplane, so the graph has no
 * import cycle and a node's reach is visible in one place.
 */
import type { FrameVector } from './frames.js';
import type { HardwareInterface, SwInterface } from './interface.js';
import type { NeighborTable } from './neighbor.js';
import type { Fib } from './fib.js';
import type { Ip4Output } from './ip4-output.js';
import type { InterfaceOutput } from './interface-output.js';
import type { GraphNode } from './node.js';
import type { Ip6Output } from './ip6-output.js';
import type { Ip6Frames } from './ip6-input.js';
import type { Icmp6ErrorSender } from './icmp6-error.js';
import type { NdHooks } from './ip6-link.js';
import type { Ip6Peers } from './ip6-peers.js';

/**
 * The part of the TCP stack that tcp4-input calls for each received segment. IPv4 addresses come
 * as signed 32-bit integers (`>>> 0` gives the usual unsigned form; see ipv4SourceI32 for why);
 * `now` is the vector's clock, the same heap number for every segment of the vector.
 */
export interface TcpInputHandler {
  input(srcIp: number, dstIp: number, buf: Buffer, off: number, len: number, now: number): void;
  /** A Packet Too Big for one of its segments (RFC 8201): see TcpStack.packetTooBig. */
  packetTooBig?(localIp: number, localPort: number, remoteIp: number, remotePort: number, seq: number, mtu: number, headerBytes: number): boolean;
}

/** Per-packet tracing (`trace add`), see trace.ts. Nodes read `tracedThisVector` before anything else. */
export interface Tracer {
  readonly armed: boolean;
  readonly tracedThisVector: boolean;
  /** Trace record id of frame i of the RX vector, or -1. Valid only while tracedThisVector. */
  readonly frameTrace: Int32Array;
  startVector(n: number): void;
  record(id: number, node: string, ...lines: string[]): void;
}

/** A running `pcap trace` (pcap-trace.ts). */
export interface PacketCapture {
  readonly options: { readonly rx: boolean; readonly tx: boolean; readonly drop: boolean; readonly swIndex: number };
  captureRx(data: Buffer, off: number, len: number, vlanTpid: number, vlanTci: number, hwSwIndex: number): void;
  /** swIndex: the (sub-)interface the frame leaves by; hwSwIndex: its hardware interface's. */
  captureTx(data: Buffer, off: number, len: number, swIndex: number, hwSwIndex: number): void;
  captureDrop(data: Buffer, off: number, len: number, vlanTpid: number, vlanTci: number, swIndex: number): void;
}

/** Echo replies for the CLI's `ping`. */
export interface EchoListener {
  (src: number, id: number, seq: number, ttl: number, icmpBytes: number): void;
}

/** IPv6 echo replies for `ping`: the source address is src[srcOff] (16 bytes, valid during the call). */
export interface Echo6Listener {
  (src: Buffer, srcOff: number, id: number, seq: number, hopLimit: number, icmpBytes: number): void;
}

export interface NodeContext {
  readonly frames: FrameVector;
  /** Software interfaces; frame i belongs to interfaces[frames.sw[i] - 1]. */
  readonly interfaces: readonly SwInterface[];
  readonly hardware: readonly HardwareInterface[];
  readonly neighbors: NeighborTable;
  readonly fib: Fib;
  /** Originates IPv4 packets: ip4-lookup, ip4-rewrite (or the neighbour hold queue), interface-output. */
  readonly ip4: Ip4Output;
  /** IPv6: the neighbour (ND) table, the output path, per-frame upper-layer offsets, errors, DAD hooks. */
  readonly neighbors6: NeighborTable;
  readonly ip6: Ip6Output;
  readonly ip6Frames: Ip6Frames;
  readonly icmp6Error: Icmp6ErrorSender;
  readonly nd: NdHooks;
  /** IPv6 addresses as the TCP stack's 32-bit handles. */
  readonly ip6Peers: Ip6Peers;
  readonly echo6Listener: Echo6Listener | null;
  /** L2 frames straight onto an interface (ARP, the cross-connect). */
  readonly output: InterfaceOutput;
  readonly tracer: Tracer;
  /** Null until something listens on TCP. */
  readonly tcp: TcpInputHandler | null;
  /** Set while a CLI `ping` waits for replies. */
  readonly echoListener: EchoListener | null;
  /** Monotonic clock, ms. */
  now(): number;
  /** Drops frame i of the vector with `reason` (an error index of `node`): counted, traced, captured. */
  drop(node: GraphNode, i: number, reason: number): void;
}
