/**
 * Ethernet II and IEEE 802.1Q / 802.1ad tags.
 *
 * Layout: destination MAC (6), source MAC (6), then either the EtherType (2) or one or more
 * 4-byte tags (TPID 0x8100 or 0x88a8, then TCI: 3 bits PCP, 1 bit DEI, 12 bits VID).
 */
import { copyMac, read16, write16 } from './bytes.js';

export const ETH_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;
export const ETH_MIN_FRAME = 60; // without FCS

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100; // 802.1Q C-tag
export const ETHERTYPE_QINQ = 0x88a8; // 802.1ad S-tag
export const ETHERTYPE_QINQ_LEGACY = 0x9100;
export const ETHERTYPE_IPV6 = 0x86dd;

export const VLAN_ID_MAX = 4094;

export function isVlanTpid(etherType: number): boolean {
  return etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_LEGACY;
}

export const dstMacOffset = 0;
export const srcMacOffset = 6;

export function etherType(buf: Buffer, off: number): number {
  return read16(buf, off + 12);
}

export function vlanId(tci: number): number {
  return tci & 0x0fff;
}

export function vlanPcp(tci: number): number {
  return tci >>> 13;
}

/** Writes destination, source and EtherType; returns the header length (14). */
export function writeEthernet(buf: Buffer, off: number, dst: Buffer, src: Buffer, type: number): number {
  copyMac(buf, off, dst, 0);
  copyMac(buf, off + 6, src, 0);
  write16(buf, off + 12, type);
  return ETH_HEADER_LEN;
}

/** Writes destination, source, an 802.1Q tag with `vid` and the inner EtherType; returns 18. */
export function writeEthernetVlan(buf: Buffer, off: number, dst: Buffer, src: Buffer, vid: number, innerType: number): number {
  copyMac(buf, off, dst, 0);
  copyMac(buf, off + 6, src, 0);
  write16(buf, off + 12, ETHERTYPE_VLAN);
  write16(buf, off + 14, vid & 0x0fff);
  write16(buf, off + 16, innerType);
  return ETH_HEADER_LEN + VLAN_TAG_LEN;
}
