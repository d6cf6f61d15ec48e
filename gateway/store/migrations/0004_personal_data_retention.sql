-- Personal data at rest (issue 11 item 5, ADR 0015): a booking keeps its application (P16)
-- while it lives; once it has ended (cancelled, annulled, completed, expired) for the
-- configured retention period, the sweeper erases its personal fields and stamps when.
ALTER TABLE bookings ADD COLUMN erased_at BIGINT;
CREATE INDEX bookings_ended ON bookings (status, updated_at);
