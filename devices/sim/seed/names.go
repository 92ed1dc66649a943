package seed

import (
	"math/rand/v2"
	"strings"
)

// surnames are common Chinese family names, most frequent first, with a
// weight roughly proportional to how many people carry them (with the
// Hubei-typical 熊, 万, 汪, 程 and 胡 a little heavier than nationally).
var surnames = []struct {
	name   string
	weight int
}{
	{"王", 72}, {"李", 70}, {"张", 66}, {"刘", 53}, {"陈", 46}, {"杨", 32}, {"黄", 25}, {"赵", 20},
	{"吴", 20}, {"周", 19}, {"徐", 15}, {"孙", 14}, {"胡", 14}, {"朱", 13}, {"高", 12}, {"林", 10},
	{"何", 10}, {"郭", 10}, {"马", 10}, {"罗", 9}, {"梁", 8}, {"宋", 7}, {"郑", 7}, {"谢", 7},
	{"韩", 6}, {"唐", 6}, {"冯", 6}, {"于", 5}, {"董", 5}, {"萧", 5}, {"程", 6}, {"曹", 5},
	{"袁", 5}, {"邓", 5}, {"许", 5}, {"傅", 4}, {"沈", 4}, {"曾", 4}, {"彭", 4}, {"吕", 4},
	{"苏", 4}, {"卢", 4}, {"蒋", 4}, {"蔡", 4}, {"贾", 3}, {"丁", 3}, {"魏", 3}, {"薛", 3},
	{"叶", 3}, {"阎", 3}, {"余", 4}, {"潘", 3}, {"杜", 3}, {"戴", 3}, {"夏", 3}, {"钟", 3},
	{"汪", 4}, {"田", 3}, {"任", 3}, {"姜", 3}, {"范", 3}, {"方", 3}, {"石", 3}, {"姚", 3},
	{"谭", 3}, {"廖", 3}, {"邹", 3}, {"熊", 5}, {"金", 2}, {"陆", 2}, {"郝", 2}, {"孔", 2},
	{"白", 2}, {"崔", 2}, {"康", 2}, {"毛", 2}, {"邱", 2}, {"秦", 2}, {"江", 2}, {"史", 2},
	{"顾", 2}, {"侯", 2}, {"邵", 2}, {"孟", 2}, {"龙", 2}, {"万", 4}, {"段", 2}, {"雷", 2},
	{"钱", 2}, {"汤", 2}, {"尹", 2}, {"黎", 2}, {"易", 2}, {"常", 2}, {"武", 2}, {"乔", 2},
	{"贺", 2}, {"赖", 1}, {"龚", 2}, {"文", 2}, {"向", 2}, {"鲁", 1}, {"柯", 1}, {"喻", 1},
	{"欧阳", 1}, {"诸葛", 1}, {"司马", 1},
}

// givenNames are common two-character given names of people of working
// age (born 1960s–2000s).
var givenNames = []string{
	"志强", "建华", "建国", "建军", "国强", "国华", "海燕", "秀英", "秀兰", "丽娟", "丽华", "桂英",
	"晓明", "晓东", "晓燕", "晓红", "小龙", "小军", "文杰", "文博", "文斌", "俊杰", "俊峰", "志刚",
	"志勇", "志华", "志伟", "红梅", "春梅", "玉兰", "永红", "永刚", "永强", "德明", "德华", "立新",
	"立军", "新华", "卫东", "卫国", "爱国", "爱华", "金龙", "海波", "海涛", "海军", "宏伟", "宏亮",
	"振华", "振宇", "明亮", "明辉", "光明", "少华", "少军", "长江", "汉东", "楚雄", "荆生", "鹏飞",
	"云飞", "雪梅", "雪峰", "晨阳", "浩然", "浩宇", "子轩", "子涵", "梓萱", "一鸣", "佳怡", "天翼",
	"承泽", "思远", "雨欣", "欣怡", "诗雨", "嘉豪", "家豪", "宇航", "俊熙", "博文", "婷婷", "静怡",
	"晓丽", "丽萍", "慧敏", "建平", "建林", "光辉", "德胜", "学军", "学文", "永庆", "春华", "秋生",
	"冬生", "玉峰", "志明", "国平", "朝阳", "向阳", "红军", "胜利", "跃进", "江波", "汉生", "武军",
}

// givenChars are characters common in given names, for one-character
// names and for two-character names beyond the list above.
var givenChars = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉兰萍红鹏飞斌辉" +
	"峰波宇然婷雪琳晨阳凯健鑫亮东新庆胜豪涵欣鸣怡博翼泽懿曦晶莹梅菊江汉楚荆斌彬琦琪")

// surnameTotal is the sum of surname weights.
func surnameTotal() int {
	n := 0
	for _, s := range surnames {
		n += s.weight
	}
	return n
}

// NameGen draws realistic Chinese personal names from a seeded source,
// without repeating a full name it has already given.
type NameGen struct {
	rng   *rand.Rand
	total int
	used  map[string]bool
}

// NewNameGen returns a generator drawing from rng.
func NewNameGen(rng *rand.Rand) *NameGen {
	return &NameGen{rng: rng, total: surnameTotal(), used: map[string]bool{}}
}

// Next returns a name not given before, falling back to a repeat only
// when the pool is exhausted (it never is at demo sizes: the pool holds
// hundreds of thousands of names).
func (g *NameGen) Next() string {
	var name string
	for range 50 {
		name = g.draw()
		if !g.used[name] {
			break
		}
	}
	g.used[name] = true
	return name
}

func (g *NameGen) draw() string {
	var b strings.Builder
	n := g.rng.IntN(g.total)
	for _, s := range surnames {
		if n < s.weight {
			b.WriteString(s.name)
			break
		}
		n -= s.weight
	}
	switch r := g.rng.IntN(100); {
	case r < 55:
		b.WriteString(givenNames[g.rng.IntN(len(givenNames))])
	case r < 80: // one-character given names are common in this generation
		b.WriteRune(givenChars[g.rng.IntN(len(givenChars))])
	default:
		b.WriteRune(givenChars[g.rng.IntN(len(givenChars))])
		b.WriteRune(givenChars[g.rng.IntN(len(givenChars))])
	}
	return b.String()
}
