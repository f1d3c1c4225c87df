package account

// DemoPerson is a person the demo data opens an account for. The UI offers
// them in its demo sign-in picker; cmd/opencarbon seeds them.
type DemoPerson struct {
	Person         string   // host-platform person id (the token's sub)
	Name           string   // display name for the picker
	EntryPoint     string   // where they opened the account
	ConsentVersion string   // consent text version they accepted
	Partners       []string // partners they linked
}

// DemoPeople are the demo people, in the order the UI lists them.
var DemoPeople = []DemoPerson{
	{Person: "demo-xiaoming", Name: "小明 Xiaoming", EntryPoint: EntryPointSearch, ConsentVersion: "2026-01", Partners: []string{"eleme", "cainiao"}},
	{Person: "demo-lihua", Name: "李华 Li Hua", EntryPoint: EntryPointMyPage, ConsentVersion: "2026-01", Partners: []string{"eleme", "xianyu", "tmall"}},
	{Person: "demo-wangfang", Name: "王芳 Wang Fang", EntryPoint: "campaign:88week", ConsentVersion: "2026-01", Partners: []string{"cainiao"}},
}
