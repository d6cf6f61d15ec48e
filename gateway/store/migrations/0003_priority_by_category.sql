-- P6 by category (issue 10 item 6, ADR 0013). Order 505 splits the one out-of-turn cap of
-- Order 707 into quotas covering different categories, and which quota covers a category is
-- data that changes from edition to edition. So a checkpoint-day counts the out-of-turn
-- bookings holding a place on it per category; a quota's use is the sum over its
-- categories, read and written only while the day's cp_days row is locked (the one lock of
-- a day's bookings).
CREATE TABLE cp_day_priority (
    checkpoint TEXT NOT NULL,
    day TEXT NOT NULL,
    category TEXT NOT NULL,
    booked BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (checkpoint, day, category)
);

-- Days booked before: their out-of-turn bookings that hold a place — held, active, or
-- completed (an arrival keeps its place; a held booking without an hour has none yet) — per
-- category. They sum to the priority_booked they replace.
INSERT INTO cp_day_priority (checkpoint, day, category, booked)
SELECT checkpoint, day, priority, COUNT(*) FROM bookings
WHERE priority IS NOT NULL AND status IN ('held', 'active', 'completed') AND hour >= 0
GROUP BY checkpoint, day, priority;

-- The single total is gone: one count per category, nothing to drift apart.
ALTER TABLE cp_days DROP COLUMN priority_booked;
