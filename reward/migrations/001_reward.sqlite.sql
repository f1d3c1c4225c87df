-- Merchants that list low-carbon discounts. partner is the partner that
-- operates the merchant over the signed API (checks and marks vouchers,
-- lists offers); '' when only the operator manages it.
CREATE TABLE reward_merchants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  partner TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
-- Offers: kind 'donation' (points → cash red envelope of amount_fen paid
-- from budget_fen), 'discount' (a merchant's voucher, spends the parent
-- total) or 'mall' (a partner's own item, spends only that partner's
-- sub-account). stock NULL is unlimited; per_person 0 is no limit.
-- partner is who is told (voucher webhooks) and who may check vouchers.
CREATE TABLE reward_offers (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('donation', 'discount', 'mall')),
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  merchant TEXT NOT NULL DEFAULT '',
  partner TEXT NOT NULL DEFAULT '',
  points BIGINT NOT NULL CHECK (points > 0),
  stock BIGINT CHECK (stock >= 0),
  per_person BIGINT NOT NULL DEFAULT 0 CHECK (per_person >= 0),
  amount_fen BIGINT NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
  budget_fen BIGINT NOT NULL DEFAULT 0 CHECK (budget_fen >= 0),
  issued BIGINT NOT NULL DEFAULT 0,
  valid_from BIGINT NOT NULL,
  valid_until BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  seed_key TEXT UNIQUE
);
CREATE INDEX reward_offers_partner ON reward_offers (partner, id);
-- Vouchers and red envelopes: what a redemption or donation gave. One per
-- (account, idempotency key); code is random and unguessable. spend_ref
-- is the ledger reference of the points debited.
CREATE TABLE reward_vouchers (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  offer_id BIGINT NOT NULL REFERENCES reward_offers (id),
  account_id BIGINT NOT NULL,
  sub_id BIGINT NOT NULL DEFAULT 0,
  idem_key TEXT NOT NULL,
  points BIGINT NOT NULL,
  amount_fen BIGINT NOT NULL DEFAULT 0,
  spend_ref TEXT NOT NULL,
  status TEXT NOT NULL,
  valid_until BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  used_at BIGINT,
  cancelled_at BIGINT,
  UNIQUE (account_id, idem_key)
);
CREATE INDEX reward_vouchers_offer_account ON reward_vouchers (offer_id, account_id);
CREATE INDEX reward_vouchers_account ON reward_vouchers (account_id, id);
