/**
 * ARP for IPv4 over Ethernet (RFC 826): 28 bytes.
 * htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 oper(2) sha(6) spa(4) tha(6) tpa(4)
 */
import { copyMac } from './bytes.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export const enum ArpError {
  None = 0,
  TooShort,
  NotEthernetIpv4,
  BadOperation,
}

export function checkArp(buf: Buffer, off: number, len: number): ArpError {
  if (len < ARP_LEN) return ArpError.TooShort;
  if (buf.readUInt16BE(off) !== 1 || buf.readUInt16BE(off + 2) !== 0x0800 || buf[off + 4] !== 6 || buf[off + 5] !== 4) {
    return ArpError.NotEthernetIpv4;
  }
  const op = buf.readUInt16BE(off + 6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return ArpError.BadOperation;
  return ArpError.None;
}

export const arpOperation = (buf: Buffer, off: number): number => buf.readUInt16BE(off + 6);
export const arpSenderMacOffset = 8;
export const arpSenderIp = (buf: Buffer, off: number): number => buf.readUInt32BE(off + 14);
export const arpTargetMacOffset = 18;
export const arpTargetIp = (buf: Buffer, off: number): number => buf.readUInt32BE(off + 24);

/** Writes an ARP packet; returns its length (28). */
export function writeArp(
  buf: Buffer,
  off: number,
  operation: number,
  senderMac: Buffer,
  senderIp: number,
  targetMac: Buffer,
  targetIp: number,
): number {
  buf.writeUInt16BE(1, off);
  buf.writeUInt16BE(0x0800, off + 2);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  buf.writeUInt16BE(operation, off + 6);
  copyMac(buf, off + 8, senderMac, 0);
  buf.writeUInt32BE(senderIp >>> 0, off + 14);
  copyMac(buf, off + 18, targetMac, 0);
  buf.writeUInt32BE(targetIp >>> 0, off + 24);
  return ARP_LEN;
}
