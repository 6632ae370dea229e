/**
 * The node graph: every node, its arcs resolved by name, and the order in which the vector
 * nodes run (a topological order of the arcs, so a node runs after every node that can hand it
 * frames). Adding a node: write its module (defineNode + run) and add it to `createGraph`.
 */
import { createArpInput } from './arp-input.js';
import { createEthernetInput } from './ethernet-input.js';
import { createIcmpInput } from './icmp-input.js';
import { createIp4Input } from './ip4-input.js';
import type { Ip4Nodes } from './ip4-output.js';
import { createL2Output } from './l2-output.js';
import { GraphNode } from './node.js';
import { createTcpInput } from './tcp-input.js';
import { createIp6Input } from './ip6-input.js';
import { createIcmp6Input } from './icmp6-input.js';
import { createTcp6Input } from './tcp6-input.js';
import type { Ip6Nodes } from './ip6-output.js';

export function createGraph(capacity: number, ip4: Ip4Nodes, interfaceOutput: GraphNode, ip6: Ip6Nodes, icmp6Error: GraphNode) {
  const nodes = {
    /** The device drain (C) and the hand-over to JS; frames counted as vectors. */
    afPacketInput: new GraphNode('af-packet-input', [], 0, [], ['ethernet-input']),
    ethernetInput: createEthernetInput(capacity),
    l2Output: createL2Output(capacity),
    arpInput: createArpInput(capacity),
    ip4Input: createIp4Input(capacity),
    icmpInput: createIcmpInput(capacity),
    tcpInput: createTcpInput(capacity),
    ip6Input: createIp6Input(capacity),
    icmp6Input: createIcmp6Input(capacity),
    tcp6Input: createTcp6Input(capacity),
    /** The TCP stack's per-vector output (flush), as VPP's tcp4-output. */
    tcpOutput: new GraphNode('tcp4-output', [], 0, [], ['ip4-lookup']),
    /** The applications (HTTP) called from TCP, as VPP's session-queue. */
    sessionQueue: new GraphNode('session-queue', [], 0, [], ['tcp4-output']),
    ip4Lookup: ip4.lookup,
    ip4Rewrite: ip4.rewrite,
    ip4Arp: ip4.arp,
    ip6Lookup: ip6.lookup,
    ip6Rewrite: ip6.rewrite,
    ip6Discover: ip6.discover,
    icmp6Error,
    interfaceOutput,
    /** Every dropped frame passes here (counted per vector); the reason is the dropping node's error. */
    errorDrop: new GraphNode('error-drop', [], 0),
  };
  const all: GraphNode[] = Object.values(nodes);
  const byName = new Map(all.map((n) => [n.name, n]));
  for (const n of all) {
    n.next.length = 0;
    for (const name of n.nextNames) {
      const target = byName.get(name);
      if (target === undefined) throw new Error(`graph: node ${n.name} has an arc to unknown node ${name}`);
      n.next.push(target);
    }
  }
  return { ...nodes, all, dispatchOrder: topologicalOrder(all).filter((n) => n.run !== null) };
}

export type Graph = ReturnType<typeof createGraph>;

/** Kahn's algorithm over the arcs; a cycle is a wiring bug. Ties keep the declaration order. */
function topologicalOrder(nodes: GraphNode[]): GraphNode[] {
  const indegree = new Map<GraphNode, number>(nodes.map((n) => [n, 0]));
  for (const n of nodes) for (const m of n.next) indegree.set(m, indegree.get(m)! + 1);
  const order: GraphNode[] = [];
  const ready = nodes.filter((n) => indegree.get(n) === 0);
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const m of n.next) {
      const d = indegree.get(m)! - 1;
      indegree.set(m, d);
      if (d === 0) ready.push(m);
    }
  }
  if (order.length !== nodes.length) throw new Error('graph: the arcs have a cycle');
  return order;
}
