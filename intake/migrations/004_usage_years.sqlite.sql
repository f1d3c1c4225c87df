-- Every (person, behavior, partner) usage also has a row per year, with
-- day = -year (the writer keeps it with the day rows, see yearRow): the
-- yearly cap and the calc record's used_year_mg read that one row instead
-- of every day row of the year. It sorts before the person's days, and no
-- footprint range (positive YYYYMMDD days) includes it.
INSERT INTO intake_usage (account_id, day, behavior_id, partner, scenario_id, mg, events)
	SELECT account_id, -(day / 10000), behavior_id, partner, MIN(scenario_id), SUM(mg), SUM(events)
	FROM intake_usage WHERE day > 0
	GROUP BY account_id, -(day / 10000), behavior_id, partner;
