package honor

import "github.com/opencarbon/opencarbon/store"

// The statements of the medal consumer: what it reads of its own tables
// beside intake.Activity, and the little it writes.
var (
	qInsertMedals = store.NewBulkWrite(`INSERT INTO honor_medals (account_id, medal_id, awarded_at) VALUES `, 3,
		` ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`,
		`INSERT INTO honor_medals (account_id, medal_id, awarded_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])
		ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`)
	qInsertCampaigns = store.NewBulkWrite(`INSERT INTO honor_campaigns (account_id, campaign_id) VALUES `, 2,
		` ON CONFLICT (account_id, campaign_id) DO NOTHING`,
		`INSERT INTO honor_campaigns (account_id, campaign_id)
		SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT (account_id, campaign_id) DO NOTHING`)
	// A record only ever grows, whoever writes first (two consumers).
	qRaiseStreaks = store.NewBulkWrite(`INSERT INTO honor_streaks (account_id, best) VALUES `, 2,
		` ON CONFLICT (account_id) DO UPDATE SET best = max(honor_streaks.best, excluded.best)`,
		`INSERT INTO honor_streaks (account_id, best)
		SELECT * FROM unnest($1::bigint[], $2::bigint[])
		ON CONFLICT (account_id) DO UPDATE SET best = GREATEST(honor_streaks.best, excluded.best)`)
	// The reads of a batch's plan (and of Stats), over a set of accounts.
	qReadMedals = store.BulkRead{
		SQLite:   `SELECT account_id, medal_id FROM honor_medals WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		Postgres: `SELECT account_id, medal_id FROM honor_medals WHERE account_id = ANY($1::bigint[])`,
	}
	qReadCampaigns = store.BulkRead{
		SQLite:   `SELECT account_id, campaign_id FROM honor_campaigns WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		Postgres: `SELECT account_id, campaign_id FROM honor_campaigns WHERE account_id = ANY($1::bigint[])`,
	}
	qReadStreaks = store.BulkRead{
		SQLite:   `SELECT account_id, best FROM honor_streaks WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		Postgres: `SELECT account_id, best FROM honor_streaks WHERE account_id = ANY($1::bigint[])`,
	}
)
