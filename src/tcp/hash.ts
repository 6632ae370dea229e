/** The keyed hash of ISNs (RFC 6528) and SYN cookies lives in the wire layer (the IPv6 tables use it too). */
export { hash4, makeKey, tableHash4 } from '../wire/keyed-hash.js';
