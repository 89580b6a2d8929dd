//! Azurite, the Azure Storage emulator, as a test server (work in progress).
