//! GCS test servers: gcp-storage-emulator and a protocol-faithful fake of the resumable-upload API (work in progress).
