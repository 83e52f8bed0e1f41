/**
 * The data the analysis core passes along its pipeline:
 * pcap bytes -> {@link CaptureRecord} -> {@link TcpPacket} -> {@link Connection}.
 *
 * Nothing here knows about Docker, files or processes.
 *
 * @module
 */

import type { IcmpErrorPacket } from "./icmp_errors.ts";

/** TCP flag bits, as in the TCP header's flags byte. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** One record of a capture file, before any protocol is decoded. */
export interface CaptureRecord {
  /** 1-based position of the record in its file. */
  index: number;
  /** Byte offset of the record header in the file. */
  offset: number;
  /** Capture time, nanoseconds since the Unix epoch. */
  timeNs: bigint;
  /** The pcap link type of the record (1 Ethernet, 101 raw IP, 113 SLL, 276 SLL2, 0 null/loopback...). */
  linkType: number;
  /** Length of the packet on the wire. */
  originalLength: number;
  /** The captured bytes (may be shorter than originalLength). A view, not a copy. */
  data: Uint8Array;
}

/** A decoded TCP option, named as tcpdump names it. */
export interface TcpOption {
  /** "mss", "sackOK", "wscale", "TS", "nop", "eol", "sack", another tcpdump name ("tfo", "md5"...), or "unknown-N". */
  kind: string;
  /** mss value, wscale shift, TS [val, ecr], sack blocks, or undefined. */
  value?: number | [number, number] | Array<[number, number]>;
  /** The option's bytes after kind and length (a view), for options with no decoded value. */
  data?: Uint8Array;
}

/** What the link layer said about a packet: its link type, Linux cooked-capture fields, VLAN tags. */
export interface LinkInfo {
  /** The pcap link type the packet came from. */
  linkType: number;
  /** Linux SLL2: the interface index the packet was seen on. */
  interfaceIndex?: number;
  /** Linux SLL/SLL2 packet type: 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us. */
  packetType?: number;
  /** 802.1Q/802.1ad VLAN ids, outermost first. */
  vlanIds?: number[];
}

/** One TCP segment, decoded. */
export interface TcpPacket {
  /** 1-based position of the record in its capture. */
  index: number;
  /** Capture time, nanoseconds since the Unix epoch. */
  timeNs: bigint;
  ipVersion: 4 | 6;
  /** Source address as text ("10.201.0.20", "fe80::1"). */
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Flags byte: see TCP_FIN ... TCP_CWR. */
  flags: number;
  /** Raw 32-bit sequence and acknowledgement numbers. */
  seq: number;
  ack: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl?: number;
  /** The IPv4 header's identification field; absent for IPv6. */
  ipId?: number;
  /** Raw window field (unscaled, as tcpdump prints it). */
  window: number;
  /** TCP payload length computed from the IP header (not limited by the snapshot length). */
  payloadLength: number;
  options: TcpOption[];
  /** The first bytes of the payload that were captured (a view). */
  payload: Uint8Array;
  /** Whether the TCP checksum was valid, or null when it could not be checked (truncated capture). */
  checksumOk: boolean | null;
  /** TCP header length in bytes (data offset x 4), as the header states it, even when invalid. */
  headerLength?: number;
  /** TCP header plus payload length according to the IP header. */
  tcpLength?: number;
  /** The urgent pointer field. */
  urgentPointer?: number;
  /** The captured bytes of the TCP header, options included (a view; shorter when truncated). */
  tcpHeader?: Uint8Array;
  /** How the packet was framed below IP. */
  link?: LinkInfo;
  /** IPv6 extension headers between the IPv6 header and TCP, in order. */
  ipv6Extensions?: Ipv6Extension[];
}

/** One IPv6 extension header the decoder stepped over. */
export interface Ipv6Extension {
  /** Its protocol number: 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 destination options... */
  type: number;
  /** Its length in bytes. */
  length: number;
  /** Fragment header only: the fragment offset in bytes. */
  fragmentOffset?: number;
}

/** One side of a connection. */
export interface Endpoint {
  address: string;
  port: number;
}

/** Zeek's conn.log conn_state values. */
export type ConnState =
  | "S0"
  | "S1"
  | "SF"
  | "REJ"
  | "S2"
  | "S3"
  | "RSTO"
  | "RSTR"
  | "RSTOS0"
  | "RSTRH"
  | "SH"
  | "SHR"
  | "OTH";

/** "orig" is the side that sent the first SYN (or, without one, the first packet seen). */
export type Direction = "orig" | "resp";

/** One TCP connection rebuilt from packets. */
export interface Connection {
  /** 1-based, in order of first packet. */
  id: number;
  originator: Endpoint;
  responder: Endpoint;
  /** Every packet of the connection, in capture order. */
  packets: TcpPacket[];
  /** Direction of each packet in `packets`, same index. */
  directions: Direction[];
  /** The ICMP errors that quoted its packets, in capture order (absent when none did). */
  icmpErrors?: ConnectionIcmpError[];
  /** Initial sequence numbers, from the SYNs when seen. */
  isn: { orig: number | null; resp: number | null };
  /** Payload bytes each way (sequence space covered, retransmissions counted once). */
  bytes: { orig: number; resp: number };
  state: ConnState;
  /** Zeek's history string (ShADadFfRr...). */
  history: string;
  /** Whether SYN, SYN-ACK and ACK were all seen. */
  handshakeCompleted: boolean;
  /** The first FIN each way, as an index into `packets`, or null. */
  firstFin: { orig: number | null; resp: number | null };
  /** The first RST each way, as an index into `packets`, or null. */
  firstRst: { orig: number | null; resp: number | null };
  startNs: bigint;
  endNs: bigint;
}

/** An ICMP error that quoted a connection's packet: as decoded, and whose packet it quoted. */
export interface ConnectionIcmpError extends IcmpErrorPacket {
  /** Whose packet it quoted: the originator's or the responder's (as the connection tracker found it). */
  quotes: Direction;
}
