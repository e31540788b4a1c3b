import { readFileSync } from "node:fs";
import { decodeEnvelope, encodeEnvelope } from "../wire/envelope.js";
import { NodeIdentity, TrustedPeers } from "../wire/identity.js";
import type { SyncCodec } from "./codec.js";

/** The settings the envelope codec reads; a node's config carries them all. */
export interface EnvelopeCodecSettings {
  /** Bodies smaller than this are sent uncompressed. */
  compressionThreshold: number;
  /** The largest body accepted after inflating. */
  maxDecompressedBytes: number;
  /** Public nkeys whose signatures are trusted; empty: signatures are not checked. */
  trustedPeers: readonly string[];
  nodeSeed?: string;
  nodeSeedFile?: string;
}

/**
 * The node's sync codec: its identity signs, its trusted peers verify, its limits bound.
 * Signing costs ~45 µs per message, so a node signs only when it has an identity of its own
 * (a configured seed) or takes part in a fleet that checks signatures (trustedPeers set).
 */
export function createSyncCodec(
  config: EnvelopeCodecSettings,
): SyncCodec & { identity: NodeIdentity | undefined } {
  const identity = nodeIdentity(config);
  const trustedPeers = new TrustedPeers(config.trustedPeers);
  return {
    identity,
    encode: (message, compress) =>
      encodeEnvelope(message, {
        compress,
        compressionThreshold: config.compressionThreshold,
        identity,
      }),
    decode: (bytes) =>
      decodeEnvelope(bytes, { maxBodyBytes: config.maxDecompressedBytes, trustedPeers }),
  };
}

function nodeIdentity(config: EnvelopeCodecSettings): NodeIdentity | undefined {
  if (config.nodeSeed !== undefined) return NodeIdentity.fromSeed(config.nodeSeed);
  if (config.nodeSeedFile !== undefined)
    return NodeIdentity.fromSeed(readFileSync(config.nodeSeedFile, "utf8"));
  return config.trustedPeers.length > 0 ? NodeIdentity.generate() : undefined;
}
