// Package firmware owns firmware over the air: signed images, rollout
// campaigns that go out in waves with a soak time between them and halt by
// themselves when devices start failing, and each device's job through the
// protocol (told over MQTT, downloads over HTTP with Range, reports
// progress, reboots and reports its new version).
//
// Trust: an image is signed with ed25519 over a short manifest (model,
// version, size, SHA-256), not over the bytes themselves, so that a device
// can check the signature before it has the image and verify the bytes
// with a streaming hash. The service checks both before any device is
// told of an image; devices check both again after the download.
//
// It is a domain package: it imports the standard library and fleet (for
// the register's types, error vocabulary and blob store interface), never
// ingest, web or a storage adapter. Its store lives in firmware/sqlfirmware;
// cmd wires the MQTT command sender and the live device state in through
// the small interfaces declared here.
package firmware
