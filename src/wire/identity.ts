import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { createServer, fromPublic, fromSeed, Prefix } from "nkeys.js";
import { Codec } from "nkeys.js/lib/codec.js";

/**
 * A node's ed25519 identity as a NATS nkey, so operators manage node keys with the tools they
 * already use for NATS (`nk -gen server`): the seed starts with "SN", the public key with "N".
 * nkeys.js parses and encodes the keys; signing and verifying go through node:crypto, which is
 * an order of magnitude faster than the pure-JS curve.
 */
export class NodeIdentity {
  private constructor(
    readonly publicKey: string,
    private readonly privateKey: KeyObject,
  ) {}

  /** Parses an nkey seed; throws with a clear message when it is not one. */
  static fromSeed(seed: string): NodeIdentity {
    let raw: Uint8Array;
    let publicKey: string;
    try {
      // The concrete key pair exposes the raw 32-byte seed; the interface does not declare it.
      const pair = fromSeed(new TextEncoder().encode(seed.trim())) as ReturnType<
        typeof fromSeed
      > & {
        getRawSeed(): Uint8Array;
      };
      raw = pair.getRawSeed();
      publicKey = pair.getPublicKey();
    } catch (error) {
      throw new Error(`not a valid nkey seed: ${(error as Error).message}`, { cause: error });
    }
    const x = Buffer.from(rawPublicKey(publicKey)).toString("base64url");
    const d = Buffer.from(raw).toString("base64url");
    return new NodeIdentity(
      publicKey,
      createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d, x }, format: "jwk" }),
    );
  }

  /** A fresh identity; its seed is not kept, so peers that pin keys will not trust it. */
  static generate(): NodeIdentity {
    return NodeIdentity.fromSeed(new TextDecoder().decode(createServer().getSeed()));
  }

  sign(data: Uint8Array): Uint8Array {
    return sign(null, data, this.privateKey);
  }
}

/**
 * The keys whose signatures are accepted, each with the one node id it may speak for. Given as
 * `{nodeId: publicKey}`; a plain list of keys binds each key to itself, for fleets whose node
 * ids are their public keys.
 */
export class TrustedPeers {
  private readonly keys = new Map<string, KeyObject>();
  private readonly nodes = new Map<string, string>();

  constructor(peers: readonly string[] | Readonly<Record<string, string>>) {
    const pairs: [string, string][] = Array.isArray(peers)
      ? peers.map((key) => [key, key])
      : Object.entries(peers);
    for (const [node, key] of pairs) {
      const bound = this.nodes.get(key);
      if (bound !== undefined && bound !== node)
        throw new Error(`public key ${key} is given to two nodes, ${bound} and ${node}`);
      const x = Buffer.from(rawPublicKey(key)).toString("base64url");
      this.keys.set(
        key,
        createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" }),
      );
      this.nodes.set(key, node);
    }
  }

  get size(): number {
    return this.keys.size;
  }

  has(publicKey: string): boolean {
    return this.keys.has(publicKey);
  }

  /** The node id `publicKey` may sign for. */
  nodeOf(publicKey: string): string | undefined {
    return this.nodes.get(publicKey);
  }

  verify(publicKey: string, data: Uint8Array, signature: Uint8Array): boolean {
    const key = this.keys.get(publicKey);
    return key !== undefined && verify(null, data, key, signature);
  }
}

/** The 32 raw bytes of an nkey public key; throws when the key is malformed. */
export function rawPublicKey(publicKey: string): Uint8Array {
  try {
    fromPublic(publicKey);
    return Codec.decode(Prefix.Server, new TextEncoder().encode(publicKey));
  } catch (error) {
    throw new Error(`not a valid node public nkey (N…): ${publicKey}`, { cause: error });
  }
}
