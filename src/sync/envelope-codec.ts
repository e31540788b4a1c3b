import { readFileSync } from "node:fs";
import { decodeEnvelope, EnvelopeError, encodeEnvelope } from "../wire/envelope.js";
import { NodeIdentity, TrustedPeers } from "../wire/identity.js";
import type { SyncCodec } from "./codec.js";

/** The settings the envelope codec reads; a node's config carries them all. */
export interface EnvelopeCodecSettings {
  /** Bodies smaller than this are sent uncompressed. */
  compressionThreshold: number;
  /** The largest body accepted after inflating. */
  maxDecompressedBytes: number;
  /** This node's id: its own key must not be given to another node. */
  id: string;
  /** The trusted nodes' public nkeys by node id (or a plain list where ids are the keys);
   * empty: signatures are not checked. */
  trustedPeers: readonly string[] | Readonly<Record<string, string>>;
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
): SyncCodec & { identity: NodeIdentity | undefined; authenticates: boolean } {
  const trustedPeers = new TrustedPeers(config.trustedPeers);
  const identity = nodeIdentity(config, trustedPeers.size > 0);
  const own = identity === undefined ? undefined : trustedPeers.nodeOf(identity.publicKey);
  if (own !== undefined && own !== config.id)
    throw new Error(`trustedPeers gives this node's key to node ${own}, not to ${config.id}`);
  return {
    identity,
    authenticates: trustedPeers.size > 0,
    encode: (message, compress) =>
      encodeEnvelope(message, {
        compress,
        compressionThreshold: config.compressionThreshold,
        identity,
      }),
    decode: (bytes) => {
      const decoded = decodeEnvelope(bytes, {
        maxBodyBytes: config.maxDecompressedBytes,
        trustedPeers,
      });
      if (decoded.signer !== undefined)
        checkClaimedNode(decoded.message, decoded.signer, trustedPeers);
      return decoded;
    },
  };
}

/**
 * A trusted key speaks for its own node only: a message naming another node (to pass for it,
 * with a forged epoch or its entries) is rejected as `wrong_signer`, however valid its signature.
 */
function checkClaimedNode(message: unknown, signer: string, trusted: TrustedPeers): void {
  const claimed =
    message !== null && typeof message === "object"
      ? (message as { node?: unknown }).node
      : undefined;
  const node = trusted.nodeOf(signer);
  if (typeof claimed !== "string" || claimed !== node) {
    throw new EnvelopeError(
      "wrong_signer",
      `message claims node ${String(claimed)} but is signed by the key of node ${node}`,
    );
  }
}

function nodeIdentity(
  config: EnvelopeCodecSettings,
  checksSignatures: boolean,
): NodeIdentity | undefined {
  if (config.nodeSeed !== undefined) return NodeIdentity.fromSeed(config.nodeSeed);
  if (config.nodeSeedFile !== undefined)
    return NodeIdentity.fromSeed(readFileSync(config.nodeSeedFile, "utf8"));
  return checksSignatures ? NodeIdentity.generate() : undefined;
}
