package honor

import "github.com/opencarbon/opencarbon/store"

// The statements of the medal consumer.
var (
	qInsertRefs = store.NewBulkWrite(`INSERT INTO honor_refs (ref) VALUES `, 1, ` ON CONFLICT (ref) DO NOTHING RETURNING ref`,
		`INSERT INTO honor_refs (ref) SELECT * FROM unnest($1::text[]) ON CONFLICT (ref) DO NOTHING RETURNING ref`)
	qUpsertStats = store.NewBulkWrite(`INSERT INTO honor_stats (account_id, mg, credits, streak, best_streak, updated_at) VALUES `, 6,
		` ON CONFLICT (account_id) DO UPDATE SET mg = honor_stats.mg + excluded.mg, credits = honor_stats.credits + excluded.credits,
		streak = excluded.streak, best_streak = max(honor_stats.best_streak, excluded.best_streak), updated_at = excluded.updated_at`,
		`INSERT INTO honor_stats (account_id, mg, credits, streak, best_streak, updated_at)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
		ON CONFLICT (account_id) DO UPDATE SET mg = honor_stats.mg + excluded.mg, credits = honor_stats.credits + excluded.credits,
		streak = excluded.streak, best_streak = GREATEST(honor_stats.best_streak, excluded.best_streak), updated_at = excluded.updated_at`)
	qUpsertCounts = store.NewBulkWrite(`INSERT INTO honor_counts (account_id, kind, name, n) VALUES `, 4,
		` ON CONFLICT (account_id, kind, name) DO UPDATE SET n = honor_counts.n + excluded.n`,
		`INSERT INTO honor_counts (account_id, kind, name, n)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])
		ON CONFLICT (account_id, kind, name) DO UPDATE SET n = honor_counts.n + excluded.n`)
	qUpsertDays = store.NewBulkWrite(`INSERT INTO honor_days (account_id, day, n) VALUES `, 3,
		` ON CONFLICT (account_id, day) DO UPDATE SET n = honor_days.n + excluded.n`,
		`INSERT INTO honor_days (account_id, day, n)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
		ON CONFLICT (account_id, day) DO UPDATE SET n = honor_days.n + excluded.n`)
	qInsertMedals = store.NewBulkWrite(`INSERT INTO honor_medals (account_id, medal_id, awarded_at) VALUES `, 3,
		` ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`,
		`INSERT INTO honor_medals (account_id, medal_id, awarded_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])
		ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`)
	// The reads of plan, over a set of accounts.
	qReadStats = store.BulkRead{
		SQLite:   `SELECT account_id, mg, credits, streak, best_streak FROM honor_stats WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		Postgres: `SELECT account_id, mg, credits, streak, best_streak FROM honor_stats WHERE account_id = ANY($1::bigint[])`,
	}
	qReadCounts = store.BulkRead{
		SQLite:   `SELECT account_id, kind, name, n FROM honor_counts WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j) AND n > 0`,
		Postgres: `SELECT account_id, kind, name, n FROM honor_counts WHERE account_id = ANY($1::bigint[]) AND n > 0`,
	}
	qReadMedals = store.BulkRead{
		SQLite:   `SELECT account_id, medal_id FROM honor_medals WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		Postgres: `SELECT account_id, medal_id FROM honor_medals WHERE account_id = ANY($1::bigint[])`,
	}
	qReadDays = store.BulkRead{
		SQLite:   `SELECT account_id, day, n FROM honor_days WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j) AND n > 0 ORDER BY account_id, day DESC`,
		Postgres: `SELECT account_id, day, n FROM honor_days WHERE account_id = ANY($1::bigint[]) AND n > 0 ORDER BY account_id, day DESC`,
	}
)
