/**
 * Uploaded audio between its receipt and the end of its ingest, where every orchestrator can read it.
 *
 * An upload is written to the receiving orchestrator's `<data-dir>/uploads` as it arrives, its
 * ingest following the file (upload-receipt.ts). With an external NATS (NATS_URL: possibly several
 * orchestrators, one of which may die before the ingest ends) its bytes are also put in the uploads
 * Object Store bucket (replicated like every bucket) once complete and before the upload is
 * acknowledged, so another orchestrator that
 * resumes the ingest materializes the file with `fetchTo`; the copy is deleted when the ingest
 * ends (planned, failed or cancelled). With the embedded NATS there is one orchestrator and one
 * disk: LocalUploadStore keeps nothing more.
 */
import fs from "node:fs";
import { Readable } from "node:stream";
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import { ObjectWriter } from "../../contract/object-writer.ts";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pipeline } from "node:stream/promises";
import type { ObjectStore } from "@nats-io/obj";
import { BadInputError } from "../ingest/ingest-errors.ts";
import type { Logger } from "../log.ts";
import type { EpisodeRow } from "../store/episode-store.ts";
import { uploadPartPath } from "./upload-receipt.ts";

/** The upload store port EpisodeService and ingest use. */
export interface UploadStore {
  /** Keeps the received upload (already at `filePath`) for any orchestrator; resolves once it is stored. */
  keep(episodeId: string, filePath: string): Promise<void>;
  /**
   * Writes the kept upload of `episodeId` to `toPath` (an orchestrator that did not receive it, or
   * lost its file); false when none is kept.
   */
  fetchTo(episodeId: string, toPath: string): Promise<boolean>;
  /** The ingest ended: the kept copy is no longer needed. Safe to repeat. */
  remove(episodeId: string): Promise<void>;
}

/** One orchestrator, one disk: the file in the data directory is all there is. */
export class LocalUploadStore implements UploadStore {
  keep(): Promise<void> {
    return Promise.resolve();
  }
  fetchTo(): Promise<boolean> {
    return Promise.resolve(false);
  }
  remove(): Promise<void> {
    return Promise.resolve();
  }
}

/** Bytes read from an upload file at a time (the writer cuts them into its own pieces). */
const PIECE_BYTES = 128 * 1024;

/**
 * Uploads in the uploads Object Store bucket (contract/wire.ts WireNames.uploadsBucket), one object
 * per episode, written by the shared ObjectWriter (contract/object-writer.ts): the file is streamed
 * piece by piece with Node's native SHA-256, and a piece that meets a NATS outage is published again
 * (deduplicated by its message id), so an outage neither fails the upload nor leaves a half-written
 * object's pieces behind.
 */
export class NatsUploadStore implements UploadStore {
  constructor(
    private readonly bucket: ObjectStore,
    private readonly writer: ObjectWriter,
  ) {}

  /** The store on `nc`'s bucket `bucketName` (`bucket`, opened already), writing with the connection's max_payload. */
  static on(nc: NatsConnection, bucketName: string, bucket: ObjectStore): NatsUploadStore {
    return new NatsUploadStore(bucket, new ObjectWriter(jetstream(nc), bucketName, nc.info?.max_payload));
  }

  /** The object of an episode's upload. */
  static objectName(episodeId: string): string {
    return `${episodeId}.upload`;
  }

  /** Stores the file once (an episode's upload is kept once: "new" refuses a second object under its name). */
  async keep(episodeId: string, filePath: string): Promise<void> {
    await this.writer.put(NatsUploadStore.objectName(episodeId), fs.createReadStream(filePath, { highWaterMark: PIECE_BYTES }), { mode: "new" });
  }

  /** Fetches the kept copy to `toPath` (false: there is none); a read cut by a NATS outage starts again. */
  fetchTo(episodeId: string, toPath: string): Promise<boolean> {
    return retryThroughNatsOutage(() => this.fetchOnce(episodeId, toPath));
  }

  private async fetchOnce(episodeId: string, toPath: string): Promise<boolean> {
    const got = await this.bucket.get(NatsUploadStore.objectName(episodeId));
    if (!got) return false;
    const tmp = `${toPath}.${process.pid}.part`;
    try {
      await pipeline(Readable.fromWeb(got.data), fs.createWriteStream(tmp, { mode: 0o600 }));
      // the digest is checked as the last piece arrives: a damaged copy is an error, never a file
      const err = await got.error;
      if (err) throw err;
      await fs.promises.rename(tmp, toPath);
      return true;
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
  }

  async remove(episodeId: string): Promise<void> {
    const name = NatsUploadStore.objectName(episodeId);
    const info = await this.bucket.info(name);
    if (info && !info.deleted) await this.bucket.delete(name);
  }
}

/**
 * The uploaded file an ingest decodes when this process is not receiving it (a takeover, a
 * restart): the one this orchestrator received, else the copy in the upload store (received by
 * another orchestrator, or the data directory was lost), fetched to `fetchTo`. Neither: the episode
 * fails with a clear reason: its upload never ended (a part file is left, or the upload store,
 * which holds every complete upload, has none) or the file is gone.
 */
export async function uploadedFile(
  episode: Pick<EpisodeRow, "id" | "uploadPath">,
  fetchTo: string,
  uploads: UploadStore | undefined,
  log: Logger,
): Promise<string> {
  if (episode.uploadPath && fs.existsSync(episode.uploadPath)) return episode.uploadPath;
  if (uploads && (await uploads.fetchTo(episode.id, fetchTo))) {
    log.info("upload read from the upload store", { episodeId: episode.id });
    return fetchTo;
  }
  if (uploads || (episode.uploadPath && fs.existsSync(uploadPartPath(episode.uploadPath)))) {
    throw new BadInputError(
      "fetch_failed",
      "the upload was interrupted before its end: the orchestrator receiving it stopped before its last byte; submit it again",
    );
  }
  throw new BadInputError("empty_file", "the uploaded file is gone (was the data directory cleaned?)");
}

/** An upload's ingest ended (planned, failed or cancelled): its local file (or part file), fetched copy and kept copy go. */
export async function releaseUpload(
  episode: Pick<EpisodeRow, "id" | "sourceKind" | "uploadPath">,
  fetchedPath: string,
  uploads: UploadStore | undefined,
  log: Logger,
): Promise<void> {
  if (episode.sourceKind !== "upload") return;
  if (episode.uploadPath) {
    fs.rmSync(episode.uploadPath, { force: true });
    fs.rmSync(uploadPartPath(episode.uploadPath), { force: true });
  }
  fs.rmSync(fetchedPath, { force: true });
  await uploads
    ?.remove(episode.id)
    .catch((err: unknown) => log.warn("could not remove the kept copy of an upload", { episodeId: episode.id, error: err }));
}
