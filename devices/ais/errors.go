package ais

import "errors"

// Errors, one per kind of failure, so that ingest can count each kind:
// every error the package returns wraps exactly one of them (test with
// errors.Is), and Stats counts them the same way.
var (
	// ErrChecksum: the NMEA (or tag block) checksum is wrong or missing.
	ErrChecksum = errors.New("ais: bad checksum")
	// ErrMalformed: the line is not a well-formed VDM/VDO sentence (fields,
	// fragment numbers, fill bits, characters outside the armouring
	// alphabet).
	ErrMalformed = errors.New("ais: malformed sentence")
	// ErrTruncated: the payload is too short to hold even the message
	// type, repeat indicator and MMSI (38 bits). Shorter-than-standard
	// payloads that do hold them are decoded, with Message.Truncated set.
	ErrTruncated = errors.New("ais: truncated payload")
	// ErrUnknownType: the message type is 0 or above 27, which the
	// standard does not define. Defined types this package does not decode
	// are not errors: they come back with Message.Undecoded set.
	ErrUnknownType = errors.New("ais: unknown message type")
	// ErrOutOfOrder: a fragment arrived that is not the next one of its
	// group; the group is dropped.
	ErrOutOfOrder = errors.New("ais: fragment out of order")
	// ErrOrphan: a fragment after the first arrived with no group waiting
	// for it (its first part was lost or never sent).
	ErrOrphan = errors.New("ais: fragment without its first part")
	// ErrIncomplete: a group was dropped because a new first fragment
	// with the same sequence id and channel arrived before it completed.
	ErrIncomplete = errors.New("ais: fragment group abandoned incomplete")
	// ErrEvicted: the oldest pending group was dropped to stay within
	// Config.MaxPending.
	ErrEvicted = errors.New("ais: pending fragment group evicted")
	// ErrExpired: a pending group was dropped because Config.MaxAge
	// sentences passed without it completing.
	ErrExpired = errors.New("ais: pending fragment group expired")
)
