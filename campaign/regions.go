package campaign

// Provinces are the 34 province-level divisions of GB/T 2260, keyed by
// their two-letter abbreviation code, with the six-digit GB/T 2260 code and
// names. A campaign's regions must be keys of this table.
var Provinces = map[string]Province{
	"BJ": {"110000", "北京市", "Beijing"},
	"TJ": {"120000", "天津市", "Tianjin"},
	"HE": {"130000", "河北省", "Hebei"},
	"SX": {"140000", "山西省", "Shanxi"},
	"NM": {"150000", "内蒙古自治区", "Inner Mongolia"},
	"LN": {"210000", "辽宁省", "Liaoning"},
	"JL": {"220000", "吉林省", "Jilin"},
	"HL": {"230000", "黑龙江省", "Heilongjiang"},
	"SH": {"310000", "上海市", "Shanghai"},
	"JS": {"320000", "江苏省", "Jiangsu"},
	"ZJ": {"330000", "浙江省", "Zhejiang"},
	"AH": {"340000", "安徽省", "Anhui"},
	"FJ": {"350000", "福建省", "Fujian"},
	"JX": {"360000", "江西省", "Jiangxi"},
	"SD": {"370000", "山东省", "Shandong"},
	"HA": {"410000", "河南省", "Henan"},
	"HB": {"420000", "湖北省", "Hubei"},
	"HN": {"430000", "湖南省", "Hunan"},
	"GD": {"440000", "广东省", "Guangdong"},
	"GX": {"450000", "广西壮族自治区", "Guangxi"},
	"HI": {"460000", "海南省", "Hainan"},
	"CQ": {"500000", "重庆市", "Chongqing"},
	"SC": {"510000", "四川省", "Sichuan"},
	"GZ": {"520000", "贵州省", "Guizhou"},
	"YN": {"530000", "云南省", "Yunnan"},
	"XZ": {"540000", "西藏自治区", "Tibet"},
	"SN": {"610000", "陕西省", "Shaanxi"},
	"GS": {"620000", "甘肃省", "Gansu"},
	"QH": {"630000", "青海省", "Qinghai"},
	"NX": {"640000", "宁夏回族自治区", "Ningxia"},
	"XJ": {"650000", "新疆维吾尔自治区", "Xinjiang"},
	"TW": {"710000", "台湾省", "Taiwan"},
	"HK": {"810000", "香港特别行政区", "Hong Kong"},
	"MO": {"820000", "澳门特别行政区", "Macao"},
}

// Province is one GB/T 2260 province-level division.
type Province struct {
	Code   string `json:"gb2260"` // six-digit GB/T 2260 code
	NameZH string `json:"name_zh"`
	NameEN string `json:"name_en"`
}
