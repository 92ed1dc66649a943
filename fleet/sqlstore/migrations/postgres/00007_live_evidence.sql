-- Evidence recorded from a live stream (issue 6). A segment the video
-- relay recorded (a commander's request, an SOS) comes from no dock
-- station and no offload: station_id and offload_id become nullable, and
-- source says where an item came from. The CHECK keeps the two kinds
-- apart: a dock item names its station and offload, a live one neither.

-- +goose Up
ALTER TABLE evidence_items ALTER COLUMN station_id DROP NOT NULL;
ALTER TABLE evidence_items ALTER COLUMN offload_id DROP NOT NULL;
ALTER TABLE evidence_items ADD COLUMN source TEXT NOT NULL DEFAULT 'dock';
ALTER TABLE evidence_items ADD CONSTRAINT evidence_items_source_check CHECK (
    (source = 'dock' AND station_id IS NOT NULL AND offload_id IS NOT NULL) OR
    (source = 'live' AND station_id IS NULL AND offload_id IS NULL));
