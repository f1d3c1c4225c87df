package campaign

import (
	"context"
	"time"

	oc "github.com/opencarbon/opencarbon"
)

// DemoRegions are the regions of the demo campaigns.
var DemoRegions = []Region{{Code: "BJ"}, {Code: "GD"}, {Code: "ZJ"}}

// DemoCampaigns returns the demo campaigns at now: the 2022 edition of 88
// Carbon Reduction Week (2022-08-08 to 2022-08-18, Asia/Shanghai), ended,
// and a current edition whose window runs from three days before now to
// seven days after, both for Beijing, Guangdong and Zhejiang.
func DemoCampaigns(now time.Time) []Campaign {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	today := now.In(loc)
	day := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	return []Campaign{
		{
			ID: "88week-2022", TitleZH: "88碳中和节 · 减碳周 2022", TitleEN: "88 Carbon Reduction Week 2022",
			TimeZone: "Asia/Shanghai", Start: "2022-08-08T00:00", End: "2022-08-18T23:59",
			Regions: DemoRegions, BonusPercent: 100,
		},
		{
			ID: "88week-now", TitleZH: "88碳中和节 · 减碳周（进行中）", TitleEN: "88 Carbon Reduction Week (live)",
			TimeZone: "Asia/Shanghai", Start: day.AddDate(0, 0, -3).Format(LocalLayout), End: day.AddDate(0, 0, 7).Add(-time.Minute).Format(LocalLayout),
			Regions: DemoRegions, BonusPercent: 50,
			Medals: []Medal{{ID: "88week-1kg", NameZH: "减碳周·一公斤", NameEN: "Reduction Week 1 kg", Artwork: "/static/medals/88week.svg",
				Rule: `mg >= 1000000`}},
		},
	}
}

// DemoMember is a demo person's membership of the live demo campaign.
type DemoMember struct {
	Account     int64
	Region      string
	DisplayName string
}

// SeedDemo creates the demo campaigns (existing ones are left as they are)
// and joins members to the live one. It is idempotent.
func (s *Service) SeedDemo(ctx context.Context, now time.Time, members []DemoMember) error {
	for _, c := range DemoCampaigns(now) {
		if _, err := s.Get(ctx, c.ID); err == nil {
			continue
		} else if oc.ErrorCode(err) != oc.ENotFound {
			return err
		}
		if _, err := s.Save(ctx, c, true); err != nil {
			return err
		}
	}
	for _, m := range members {
		if _, err := s.Member(ctx, "88week-now", m.Account); err == nil {
			continue
		}
		if _, err := s.Join(ctx, "88week-now", m.Account, m.Region, m.DisplayName); err != nil {
			return err
		}
	}
	return nil
}
