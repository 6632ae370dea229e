/** TCP as a pure state machine: segments and time in, segments and events out. */
export { TcpStack, COOKIE_MSS } from './stack.js';
export type { AnyConnection } from './stack.js';
export { TcpConnection } from './connection.js';
export { TimeWaitConnection } from './time-wait.js';
export type { LossRecovery } from './recovery.js';
export type { CongestionControl } from './congestion.js';
export {
  DEFAULT_OPTIONS,
  STATE_NAMES,
  CLOSED,
  LISTEN,
  SYN_SENT,
  SYN_RECEIVED,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  CLOSE_WAIT,
  CLOSING,
  LAST_ACK,
  TIME_WAIT,
  ipToString,
} from './types.js';
export type { SegmentSink, TcpOptions, SessionInfo, TcpCounters } from './types.js';
