package reward

import (
	"context"
	"fmt"

	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
)

func ptr(n int64) *int64 { return &n }

// demoMerchants are the low-carbon merchants of the demo catalog.
var demoMerchants = []Merchant{
	{ID: "refill-coffee", Name: "Refill Coffee 自带杯咖啡"},
	{ID: "shuchong-books", Name: "书虫二手书店 Second-hand Books"},
	{ID: "bike-share", Name: "City Bike Share 城市单车"},
}

// demoOffers are the demo catalog, keyed for idempotent seeding. Mall items
// name their partner; SeedDemo skips those whose partner is not registered.
var demoOffers = []struct {
	key string
	in  OfferInput
}{
	{"demo:donation:trees", OfferInput{Kind: KindDonation, Title: "种一棵梭梭树 Plant a saxaul tree",
		Description: "Donate points to desert tree planting; receive a no-threshold cash red envelope.",
		Project:     "Ecological protection: saxaul planting in Alxa, Inner Mongolia 阿拉善梭梭林生态保护",
		Points:      100, AmountFen: 88, BudgetFen: 1_000_000}},
	{"demo:donation:wetland", OfferInput{Kind: KindDonation, Title: "守护湿地 Protect a wetland",
		Project: "Wetland protection for migratory birds 候鸟湿地保护", Points: 200, AmountFen: 168, BudgetFen: 500_000}},
	{"demo:discount:coffee", OfferInput{Kind: KindDiscount, Merchant: "refill-coffee", Title: "自带杯立减5元 ¥5 off with your own cup",
		Points: 60, Stock: ptr(500), PerPerson: 2}},
	{"demo:discount:books", OfferInput{Kind: KindDiscount, Merchant: "shuchong-books", Title: "二手书8折 20% off second-hand books",
		Points: 80, Stock: ptr(200), PerPerson: 1}},
	{"demo:discount:bike", OfferInput{Kind: KindDiscount, Merchant: "bike-share", Title: "7天骑行卡 7-day bike pass",
		Points: 150, Stock: ptr(300), PerPerson: 1}},
	{"demo:mall:eleme", OfferInput{Kind: KindMall, Partner: "eleme", Title: "饿了么 无餐具红包 ¥3 no-cutlery coupon",
		Points: 30, Stock: ptr(1000), PerPerson: 3}},
	{"demo:mall:cainiao", OfferInput{Kind: KindMall, Partner: "cainiao", Title: "菜鸟 纸箱回收积分礼 Recycled-box gift",
		Points: 40, Stock: ptr(1000), PerPerson: 3}},
	{"demo:mall:xianyu", OfferInput{Kind: KindMall, Partner: "xianyu", Title: "闲鱼 免费验机券 Free device check",
		Points: 50, Stock: ptr(500), PerPerson: 1}},
	{"demo:mall:tmall", OfferInput{Kind: KindMall, Partner: "tmall", Title: "天猫 简约包装立减券 Minimal-packaging coupon",
		Points: 45, Stock: ptr(1000), PerPerson: 2}},
}

// SeedDemo lists the demo catalog: two donation programs with budgets, three
// low-carbon merchant discounts and one mall item per seed partner that is
// registered. It is idempotent: a second run changes nothing.
func (s *Service) SeedDemo(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, m := range demoMerchants {
			_, err := tx.ExecContext(ctx, `INSERT INTO reward_merchants (id, name, partner, created_by, created_at) VALUES ($1, $2, '', 'admin', $3)
				ON CONFLICT (id) DO NOTHING`, m.ID, m.Name, store.Micros(tx.Now))
			if err != nil {
				return fmt.Errorf("demo merchant %s: %w", m.ID, err)
			}
		}
		for _, d := range demoOffers {
			if d.in.Partner != "" {
				ok, err := partner.ExistsTx(ctx, tx, d.in.Partner)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			if _, err := s.createOfferTx(ctx, tx, "", d.in, d.key); err != nil {
				return fmt.Errorf("demo offer %s: %w", d.key, err)
			}
		}
		return nil
	})
}
