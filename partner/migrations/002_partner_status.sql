-- Suspension: partners.status is 'active' or 'suspended'; the status_*
-- columns say who set the current status, when and why ('' and NULL for a
-- partner never suspended). partner_changes is the full admin trail of
-- suspensions, reinstatements and scope changes, numbered per partner
-- (the UPDATE of the partner row that precedes each insert serialises
-- them). detail is the reason, or the new scopes.
ALTER TABLE partners ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE partners ADD COLUMN status_by TEXT NOT NULL DEFAULT '';
ALTER TABLE partners ADD COLUMN status_at BIGINT;
CREATE TABLE partner_changes (
  partner TEXT NOT NULL REFERENCES partners (id),
  seq INTEGER NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL,
  actor TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (partner, seq)
);
