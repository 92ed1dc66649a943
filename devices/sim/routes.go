package sim

import "math"

// LatLon is a WGS-84 position in degrees.
type LatLon struct{ Lat, Lon float64 }

// Wuhan is the centre of the demo: Jianghan district, Wuhan, Hubei.
var Wuhan = LatLon{30.593, 114.305}

// wuhanRoads are main roads of Wuhan, traced coarsely (a few hundred
// metres of error is fine for a demo map): Hankou's 解放大道, 中山大道 and
// 沿江大道, the 长江大桥 and 二七长江大桥 crossings, Wuchang's 武珞路–珞喻路
// and 雄楚大道, 汉阳大道 and a stretch of the 三环线.
var wuhanRoads = [][]LatLon{
	{{30.571, 114.225}, {30.583, 114.252}, {30.594, 114.278}, {30.606, 114.300}, {30.621, 114.318}, {30.640, 114.335}},
	{{30.565, 114.265}, {30.575, 114.285}, {30.585, 114.300}, {30.600, 114.315}, {30.615, 114.330}},
	{{30.575, 114.296}, {30.590, 114.305}, {30.605, 114.318}, {30.620, 114.330}},
	{{30.558, 114.275}, {30.553, 114.282}, {30.547, 114.297}, {30.545, 114.300}, {30.540, 114.320}, {30.530, 114.345},
		{30.525, 114.360}, {30.515, 114.400}, {30.505, 114.415}},
	{{30.625, 114.330}, {30.618, 114.355}, {30.600, 114.360}, {30.575, 114.345}},
	{{30.507, 114.320}, {30.505, 114.360}, {30.505, 114.400}},
	{{30.558, 114.275}, {30.555, 114.250}, {30.550, 114.220}, {30.545, 114.190}},
	{{30.500, 114.180}, {30.470, 114.230}, {30.460, 114.300}, {30.470, 114.360}},
}

// Waterways: the Yangtze (长江) and the Han (汉江) where enforcement
// vessels patrol, per city.
var waterways = []struct {
	centre LatLon
	lines  [][]LatLon
}{
	{Wuhan, [][]LatLon{
		{{30.380, 114.100}, {30.470, 114.200}, {30.520, 114.260}, {30.550, 114.288}, {30.580, 114.310}, {30.620, 114.350},
			{30.650, 114.400}, {30.665, 114.480}, {30.690, 114.560}},
		{{30.570, 114.170}, {30.575, 114.220}, {30.570, 114.250}, {30.565, 114.280}},
	}},
	{LatLon{30.692, 111.286}, [][]LatLon{ // 宜昌: the Yangtze below the Gezhouba dam
		{{30.740, 111.260}, {30.700, 111.290}, {30.660, 111.330}, {30.620, 111.380}, {30.560, 111.430}},
	}},
	{LatLon{32.009, 112.122}, [][]LatLon{ // 襄阳: the Han between Xiangcheng and Fancheng
		{{32.060, 112.000}, {32.045, 112.080}, {32.035, 112.140}, {32.010, 112.200}, {31.960, 112.230}},
	}},
	{LatLon{30.335, 112.240}, [][]LatLon{ // 荆州: the Yangtze at Shashi
		{{30.300, 112.100}, {30.290, 112.200}, {30.300, 112.280}, {30.280, 112.360}, {30.240, 112.420}},
	}},
}

// area is where a device works: the roads and waterways around its city.
type area struct {
	roads, waters [][]LatLon
}

// areaAround returns the routes near origin: Wuhan's own, or Wuhan's roads
// moved to origin, with the waterway of the nearest city that has one.
func areaAround(origin LatLon) area {
	var a area
	dLat, dLon := origin.Lat-Wuhan.Lat, origin.Lon-Wuhan.Lon
	if distanceM(origin, Wuhan) < 30_000 {
		dLat, dLon = 0, 0 // in Wuhan: the roads where they are
	}
	for _, r := range wuhanRoads {
		moved := make([]LatLon, len(r))
		for i, p := range r {
			moved[i] = LatLon{p.Lat + dLat, p.Lon + dLon}
		}
		a.roads = append(a.roads, moved)
	}
	best := math.Inf(1)
	for _, w := range waterways {
		if d := distanceM(origin, w.centre); d < best {
			best, a.waters = d, w.lines
		}
	}
	return a
}

const earthRadiusM = 6371008.8

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// distanceM is the great-circle distance between a and b in metres.
func distanceM(a, b LatLon) float64 {
	dLat, dLon := rad(b.Lat-a.Lat), rad(b.Lon-a.Lon)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// bearingDeg is the initial course from a to b, 0–360 clockwise from north.
func bearingDeg(a, b LatLon) float64 {
	y := math.Sin(rad(b.Lon-a.Lon)) * math.Cos(rad(b.Lat))
	x := math.Cos(rad(a.Lat))*math.Sin(rad(b.Lat)) - math.Sin(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Cos(rad(b.Lon-a.Lon))
	return math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
}

// lerp is the point a fraction f of the way from a to b; over the few
// hundred metres of a segment, a straight line in degrees is exact enough.
func lerp(a, b LatLon, f float64) LatLon {
	return LatLon{a.Lat + (b.Lat-a.Lat)*f, a.Lon + (b.Lon-a.Lon)*f}
}

// offsetM moves p by north and east metres.
func offsetM(p LatLon, northM, eastM float64) LatLon {
	return LatLon{p.Lat + northM/earthRadiusM*180/math.Pi,
		p.Lon + eastM/(earthRadiusM*math.Cos(rad(p.Lat)))*180/math.Pi}
}

// cursor is a position on a polyline that goes back and forth along it,
// as a patrol does.
type cursor struct {
	line []LatLon
	seg  int     // the segment line[seg]→line[seg+1]
	offM float64 // metres from line[seg] along the direction of travel
	back bool    // travelling from the end towards the start
}

// ends of the current segment in the direction of travel.
func (c *cursor) ends() (LatLon, LatLon) {
	if c.back {
		return c.line[c.seg+1], c.line[c.seg]
	}
	return c.line[c.seg], c.line[c.seg+1]
}

// advance moves the cursor by m metres, turning round at either end.
func (c *cursor) advance(m float64) {
	if len(c.line) < 2 {
		return
	}
	for range 10_000 { // bounds a degenerate line of zero-length segments
		a, b := c.ends()
		segM := distanceM(a, b)
		if c.offM+m < segM {
			c.offM += m
			return
		}
		m -= segM - c.offM
		c.offM = 0
		switch {
		case !c.back && c.seg < len(c.line)-2:
			c.seg++
		case c.back && c.seg > 0:
			c.seg--
		default:
			c.back = !c.back // turn round at the end of the line
		}
	}
}

// position returns where the cursor is and its heading.
func (c *cursor) position() (LatLon, float64) {
	if len(c.line) == 1 {
		return c.line[0], 0
	}
	a, b := c.ends()
	segM := distanceM(a, b)
	if segM == 0 {
		return a, 0
	}
	return lerp(a, b, c.offM/segM), bearingDeg(a, b)
}
