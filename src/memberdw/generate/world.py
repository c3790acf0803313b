"""The static world of the demo brand: calendar factors, stores, products, members,
campaigns and coupon templates. Everything is numpy/pandas and seeded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from memberdw.generate.fmt import DAY, HOUR, S, Calendar, cat, sarr

# ------------------------------------------------------------------------- geography
# (region, province, city, short name, city weight for stores; 0 = no store there)
CITIES = [
    ("华东", "上海市", "上海市", "上海", 5), ("华东", "江苏省", "南京市", "南京", 2),
    ("华东", "江苏省", "苏州市", "苏州", 2), ("华东", "浙江省", "杭州市", "杭州", 3),
    ("华东", "浙江省", "宁波市", "宁波", 1), ("华南", "广东省", "广州市", "广州", 3),
    ("华南", "广东省", "深圳市", "深圳", 3), ("华南", "福建省", "厦门市", "厦门", 1),
    ("华北", "北京市", "北京市", "北京", 4), ("华北", "天津市", "天津市", "天津", 1),
    ("华北", "河北省", "石家庄市", "石家庄", 1), ("华中", "湖北省", "武汉市", "武汉", 2),
    ("华中", "湖南省", "长沙市", "长沙", 1), ("西南", "四川省", "成都市", "成都", 2),
    ("西南", "重庆市", "重庆市", "重庆", 1), ("西北", "陕西省", "西安市", "西安", 0),
    ("华东", "山东省", "青岛市", "青岛", 0), ("东北", "辽宁省", "沈阳市", "沈阳", 0),
]
MALLS = ["万达广场", "万象城", "大悦城", "银泰城", "龙湖天街", "太古里", "印象城", "来福士",
         "吾悦广场", "凯德广场", "恒隆广场", "新世界", "正大广场", "环球港", "IFS", "K11"]

CATEGORIES = [  # name, median list price (yuan), share of SKUs
    ("T恤", 129, 3), ("衬衫", 199, 2), ("裤装", 229, 3), ("连衣裙", 299, 2), ("外套", 499, 2),
    ("针织衫", 259, 2), ("鞋履", 399, 2), ("配饰", 89, 2), ("家居", 69, 1), ("美妆", 159, 1),
]

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩凯健俊帆帅旭宁欣怡佳雪琳晨曦悦涵梓睿子轩一诺雨萱思彤梦瑶博文嘉豪晓婷")
MOBILE_PREFIXES = np.array([130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150,
                            151, 152, 153, 155, 156, 157, 158, 159, 166, 170, 171, 173, 175,
                            176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
                            191, 198, 199], dtype=np.int64)

TIERS = np.array(["normal", "silver", "gold", "platinum"], dtype=object)
CHANNELS = np.array(["store", "miniapp", "official_account", "wecom", "referral", "other"],
                    dtype=object)
CHANNEL_P = np.array([0.45, 0.25, 0.12, 0.08, 0.07, 0.03])
B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                    dtype=np.uint8)

WEEKDAY_FACTOR = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.4, 1.3])  # Mon..Sun


def season(cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """(offline factor, extra online factor) per business day."""
    days = np.arange(cal.days)
    pyd = [cal.pydate(d) for d in days]
    f = np.array([WEEKDAY_FACTOR[d.weekday()] for d in pyd])
    online = np.ones(cal.days)
    for i, d in enumerate(pyd):
        md = (d.month, d.day)
        if d.month == 10 and 1 <= d.day <= 7:  # National Day golden week
            f[i] = max(f[i], 1.4) * (1.6 if d.day <= 3 else 1.35)
        elif md == (11, 11):
            f[i] *= 1.8
            online[i] = 2.5
        elif md in ((11, 10), (12, 12), (12, 24), (12, 25), (1, 1), (2, 14), (3, 8), (6, 18)):
            f[i] *= 1.35
            online[i] = 1.4
    return f, online


def rng_for(seed: int, name: str) -> np.random.Generator:
    import zlib
    return np.random.default_rng(np.random.SeedSequence([seed % (2**63), zlib.crc32(name.encode())]))


def random_tokens(rng: np.random.Generator, n: int, prefix: str, length: int) -> np.ndarray:
    """``prefix`` + ``length`` url-safe base64 chars; unique (asserted)."""
    if n == 0:
        return sarr([])
    idx = rng.integers(0, 64, size=(n, length))
    raw = np.ascontiguousarray(B64[idx]).view(f"S{length}").ravel()
    out = cat(prefix, raw.astype(str).astype(S))
    assert len(np.unique(out)) == n
    return out


# ------------------------------------------------------------------------- stores

@dataclass
class Stores:
    df: pd.DataFrame  # code, name, region, province, city, store_type, opened_day, closed_day, weight
    open: np.ndarray  # bool [store, day]
    new_store: int | None
    closed_store: int


def make_stores(seed: int, cal: Calendar, members: int) -> Stores:
    rng = rng_for(seed, "stores")
    n = int(np.clip(20 + members // 5000, 20, 40))
    store_cities = [c for c in CITIES if c[4] > 0]
    w = np.array([c[4] for c in store_cities], dtype=float)
    # every store city gets one store, the rest by weight
    counts = np.ones(len(store_cities), dtype=int)
    extra = rng.multinomial(n - len(store_cities), w / w.sum())
    counts += extra
    rows = []
    for ci, (region, prov, city, short, _) in enumerate(store_cities):
        malls = rng.choice(len(MALLS), size=min(counts[ci], len(MALLS)), replace=False)
        for m in sorted(malls):
            rows.append((region, prov, city, short + MALLS[m] + "店"))
    df = pd.DataFrame(rows, columns=["region", "province", "city", "name"])
    n = len(df)
    df["code"] = [f"S{i + 1:03d}" for i in range(n)]
    df["opened_day"] = -rng.integers(1500, 4000, size=n)
    df["closed_day"] = 10**6
    df["store_type"] = np.where(rng.random(n) < 0.15, "franchise", "direct")
    big = np.flatnonzero(df["city"].isin(["上海市", "北京市", "深圳市", "杭州市"]).to_numpy())
    new_store = None
    if cal.days >= 10:
        new_store = int(rng.choice(big))
        df.loc[new_store, "opened_day"] = cal.days // 3
        df.loc[new_store, "store_type"] = "direct"
    candidates = [i for i in range(n) if i != new_store]
    closed = int(rng.choice(candidates))
    df.loc[closed, "closed_day"] = (2 * cal.days) // 3 if cal.days >= 4 else -45
    df.loc[closed, "store_type"] = "direct"
    franchise = np.flatnonzero(df["store_type"].to_numpy() == "franchise")
    if len(franchise) < 2:
        pick = [i for i in candidates if i != closed][:2]
        df.loc[pick, "store_type"] = "franchise"
    df["weight"] = rng.lognormal(0, 0.35, size=n) * np.where(
        df["city"].isin(["上海市", "北京市"]), 1.3, 1.0)
    days = np.arange(cal.days)
    open_ = (df["opened_day"].to_numpy()[:, None] <= days[None, :]) & (
        df["closed_day"].to_numpy()[:, None] > days[None, :])
    return Stores(df, open_, new_store, closed)


# ------------------------------------------------------------------------- products

@dataclass
class Skus:
    code: np.ndarray
    category: np.ndarray
    price: np.ndarray  # cents
    pop: np.ndarray  # probabilities
    cheap_of_category: np.ndarray  # per sku: the cheapest sku index of its category


def make_skus(seed: int) -> Skus:
    rng = rng_for(seed, "skus")
    shares = np.array([c[2] for c in CATEGORIES], dtype=float)
    n = 240
    per = np.floor(shares / shares.sum() * n).astype(int)
    per[0] += n - per.sum()
    cat_idx = np.repeat(np.arange(len(CATEGORIES)), per)
    base = np.array([c[1] for c in CATEGORIES], dtype=float)[cat_idx]
    raw = base * rng.lognormal(0, 0.3, size=n)
    whole = np.maximum(np.round(raw / 10) * 10 - 1, 9)  # 129, 199, 299 ...
    ending = rng.random(n)
    cents = np.where(ending < 0.6, whole * 100,
                     np.where(ending < 0.9, whole * 100 + 90, whole * 100 + 50)).astype(np.int64)
    pop = 1.0 / (rng.permutation(n) + 6.0) ** 0.9
    pop /= pop.sum()
    names = np.array([c[0] for c in CATEGORIES], dtype=object)
    cheap = np.zeros(n, dtype=np.int64)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(cat_idx == c)
        cheap[idx] = idx[np.argmin(cents[idx])]
    return Skus(code=np.array([f"SKU{10001 + i}" for i in range(n)], dtype=object),
                category=names[cat_idx], price=cents, pop=pop, cheap_of_category=cheap)


# ------------------------------------------------------------------------- members

@dataclass
class Members:
    n: int
    id: np.ndarray  # object 'M0000001'
    t_reg: np.ndarray  # local seconds
    reg_day: np.ndarray
    first_day: np.ndarray  # day of the member's first crm row (0 for pre-existing)
    t_first: np.ndarray  # updated_at of the first crm row
    mobile: np.ndarray  # int64 11 digits, 0 = none
    mobile_fmt: np.ndarray  # 0..3
    unionid: np.ndarray  # object, '' = none
    openid: np.ndarray
    name: np.ndarray
    gender: np.ndarray
    birthday_day: np.ndarray  # day offset; missing -> blank flag
    birthday_blank: np.ndarray
    province: np.ndarray
    city: np.ndarray
    city_blank: np.ndarray
    reg_time_blank: np.ndarray
    channel: np.ndarray
    store_code: np.ndarray  # register store ('' = none)
    referrer: np.ndarray
    tier: np.ndarray  # index into TIERS
    tier_blank: np.ndarray
    points0: np.ndarray
    sms: np.ndarray
    home_store: np.ndarray  # int
    lam: np.ndarray  # purchase rate / day
    basket: np.ndarray  # basket size factor (lines and quantities per order)
    p_online: np.ndarray
    del_day: np.ndarray  # day of the deletion row (10**6 = never)
    t_del: np.ndarray
    dup_groups: list = field(default_factory=list)  # (ids, via)
    incomplete: np.ndarray = None  # indices
    spare_mobiles: np.ndarray = None  # valid numbers owned by no member
    home_code: np.ndarray = None


def unique_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    pool = len(MOBILE_PREFIXES) * 10**8
    pick = rng.choice(pool, size=n, replace=False)
    return MOBILE_PREFIXES[pick // 10**8] * 10**8 + pick % 10**8


def make_members(seed: int, cal: Calendar, stores: Stores, n: int, defects: int) -> Members:
    rng = rng_for(seed, "members")
    D = cal.days
    f_off, _ = season(cal)
    # --- registration: ~70 % before the start date, the rest during the period
    pre = rng.random(n) < 0.7
    oldest = (date(2023, 1, 1) - cal.start).days
    reg_day = np.where(pre, rng.integers(oldest, 0, size=n),
                       rng.choice(D, size=n, p=f_off / f_off.sum()))
    t_reg = reg_day * DAY + rng.integers(9 * HOUR, 22 * HOUR, size=n)
    order = np.lexsort((rng.random(n), t_reg))
    reg_day, t_reg = reg_day[order], t_reg[order]
    ids = np.array([f"M{i + 1:07d}" for i in range(n)], dtype=object)
    first_day = np.maximum(reg_day, 0)
    t_first = np.where(reg_day >= 0, t_reg,
                       t_reg + (rng.random(n) * (-t_reg - 60)).astype(np.int64))

    # --- contact data
    numbers = unique_mobiles(rng, n + max(200, n // 5))
    mobile, spare = numbers[:n].copy(), numbers[n:]
    mobile_fmt = rng.choice(4, size=n, p=[0.88, 0.04, 0.04, 0.04])
    has_mobile = rng.random(n) < 0.97
    mobile[~has_mobile] = 0
    has_openid = rng.random(n) < 0.62
    has_union = has_openid | (rng.random(n) < 0.35)
    unionid = np.where(has_union, random_tokens(rng, n, "oU", 26), sarr("")).astype(object)
    openid = np.where(has_openid, random_tokens(rng, n, "oM", 26), sarr("")).astype(object)
    s_idx = rng.integers(0, len(SURNAMES), size=n)
    g1 = rng.integers(0, len(GIVEN), size=n)
    g2 = rng.integers(0, len(GIVEN), size=n)
    two = rng.random(n) < 0.7
    name = (np.array(SURNAMES, dtype=object)[s_idx] + np.array(GIVEN, dtype=object)[g1]
            + np.where(two, np.array(GIVEN, dtype=object)[g2], ""))
    female = rng.random(n) < 0.68
    form = rng.choice(4, size=n, p=[0.6, 0.3, 0.05, 0.05])  # latin, chinese, U, empty
    gender = np.select([form == 0, form == 1, form == 2],
                       [np.where(female, "F", "M"), np.where(female, "女", "男"),
                        np.full(n, "U")], "").astype(object)
    age_days = (rng.uniform(18, 60, size=n) * 365.25).astype(np.int64)
    birthday_day = -age_days
    birthday_blank = rng.random(n) < 0.12

    # --- home store and city
    sdf = stores.df
    sw = sdf["weight"].to_numpy()
    home = rng.choice(len(sdf), size=n, p=sw / sw.sum())
    province = sdf["province"].to_numpy()[home].astype(object)
    city = sdf["city"].to_numpy()[home].astype(object)
    away = rng.random(n) < 0.12
    other = [c for c in CITIES if c[4] == 0]
    oc = rng.integers(0, len(other), size=n)
    province = np.where(away, np.array([c[1] for c in other], dtype=object)[oc], province)
    city = np.where(away, np.array([c[2] for c in other], dtype=object)[oc], city)
    city_blank = rng.random(n) < 0.03

    channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_P)
    channel = np.where(has_openid & (channel == 2) & (rng.random(n) < 0.5), 1, channel)
    codes = sdf["code"].to_numpy().astype(object)
    store_code = np.where((channel == 0) | ((channel == 3) & (rng.random(n) < 0.6)),
                          codes[home], "").astype(object)
    # a store enrols a member only while open: move those to an open store of the region
    opened = sdf["opened_day"].to_numpy()[home]
    closed = sdf["closed_day"].to_numpy()[home]
    bad = (store_code != "") & ((reg_day < opened) | (reg_day >= closed))
    if bad.any():
        ok_stores = np.flatnonzero((sdf["opened_day"].to_numpy() < oldest)
                                   & (sdf["closed_day"].to_numpy() > 10**5))
        home[bad] = rng.choice(ok_stores, size=int(bad.sum()))
        store_code[bad] = codes[home[bad]]
        province = np.where(away, province, sdf["province"].to_numpy()[home]).astype(object)
        city = np.where(away, city, sdf["city"].to_numpy()[home]).astype(object)
    referrer = np.full(n, "", dtype=object)
    ref = np.flatnonzero(channel == 4)
    ref = ref[ref > 0]
    if len(ref):
        referrer[ref] = ids[(rng.random(len(ref)) * ref).astype(np.int64)]
    reg_time_blank = np.zeros(n, dtype=bool)

    # --- value: gamma purchase rate (Pareto-like), tier correlated with it
    lam = rng.gamma(0.3, 1.0, size=n)
    lam = lam / lam.mean() * 0.032
    score = lam * rng.lognormal(0, 0.5, size=n)
    rank = np.argsort(np.argsort(-score)) / n
    tier = np.select([rank < 0.03, rank < 0.13, rank < 0.38], [3, 2, 1], 0)
    tier_blank = np.zeros(n, dtype=bool)
    points0 = np.where(reg_day < 0, (rng.lognormal(6.3, 1.0, size=n) * (1 + tier)).astype(np.int64), 0)
    sms = (rng.random(n) < 0.72).astype(np.int64)
    p_online = np.where(has_openid, rng.beta(1.3, 2.6, size=n), 0.0)
    # bigger baskets for the frequent buyers: lognormal, correlated with the purchase rate
    ll = np.log(lam)
    zr = (ll - ll.mean()) / ll.std()
    basket = np.exp(0.6 * (0.8 * zr + 0.6 * rng.standard_normal(n)))

    m = Members(n=n, id=ids, t_reg=t_reg, reg_day=reg_day, first_day=first_day, t_first=t_first,
                mobile=mobile, mobile_fmt=mobile_fmt, unionid=unionid, openid=openid, name=name,
                gender=gender, birthday_day=birthday_day, birthday_blank=birthday_blank,
                province=province, city=city, city_blank=city_blank,
                reg_time_blank=reg_time_blank, channel=CHANNELS[channel].astype(object),
                store_code=store_code, referrer=referrer, tier=tier, tier_blank=tier_blank,
                points0=points0, sms=sms, home_store=home, lam=lam, p_online=p_online,
                basket=basket,
                del_day=np.full(n, 10**6), t_del=np.zeros(n, dtype=np.int64),
                spare_mobiles=spare, home_code=codes[home])
    _plant_member_defects(m, rng, cal, defects)
    return m


def missing_key_fields(m: Members, i=slice(None)) -> np.ndarray:
    """How many of the 10 key fields of landing.md each member misses."""
    return ((m.mobile[i] == 0).astype(int) + (m.unionid[i] == "") + (m.name[i] == "")
            + (m.gender[i] == "") + m.birthday_blank[i] + m.city_blank[i] + m.reg_time_blank[i]
            + (m.channel[i] == "") + (m.store_code[i] == "") + m.tier_blank[i])


def _plant_member_defects(m: Members, rng: np.random.Generator, cal: Calendar, k: int) -> None:
    n = m.n
    used = np.zeros(n, dtype=bool)
    used[:1] = True  # keep the first member plain
    n_mob, n_uni = k, max(1, (k + 1) // 2)
    groups = []
    # ---- duplicate persons: later registrations of someone already in the CRM
    pool = rng.permutation(np.arange(1, n))
    pos = 0

    def take(cond) -> int | None:
        nonlocal pos
        while pos < len(pool):
            i = int(pool[pos])
            pos += 1
            if not used[i] and cond(i):
                used[i] = True
                return i
        return None

    for g in range(n_mob):
        size = 3 if g % 2 == 0 else 2
        primary = take(lambda i: m.mobile[i] != 0 and i < n - 10)
        if primary is None:
            break
        sec = []
        for _ in range(size - 1):
            j = take(lambda i: i > primary)
            if j is not None:
                sec.append(j)
        if not sec:
            continue
        fmts = rng.permutation(4)
        m.mobile_fmt[primary] = fmts[0]
        for f_, j in zip(fmts[1:], sec):
            m.mobile[j] = m.mobile[primary]
            m.mobile_fmt[j] = f_
            m.name[j] = m.name[primary]
            m.gender[j] = m.gender[primary]
            m.birthday_day[j] = m.birthday_day[primary]
            m.province[j], m.city[j] = m.province[primary], m.city[primary]
            m.unionid[j] = ""
            m.openid[j] = ""
            m.p_online[j] = 0.0
            m.channel[j] = "store"
        groups.append(([m.id[i] for i in [primary, *sec]], "mobile"))
    for _ in range(n_uni):
        primary = take(lambda i: m.unionid[i] != "" and m.mobile[i] != 0 and i < n - 10)
        if primary is None:
            break
        j = take(lambda i: i > primary)
        if j is None:
            break
        m.unionid[j] = m.unionid[primary]
        m.openid[j] = ""
        m.p_online[j] = 0.0
        m.mobile[j] = 0
        m.name[j] = m.name[primary]
        m.birthday_day[j] = m.birthday_day[primary]
        m.province[j], m.city[j] = m.province[primary], m.city[primary]
        m.channel[j] = "official_account"
        m.store_code[j] = ""
        m.birthday_blank[j] = False
        m.gender[j] = m.gender[primary] or "U"
        groups.append(([m.id[primary], m.id[j]], "unionid"))
    m.dup_groups = groups

    # ---- nobody else may miss more than 2 of the 10 key fields (<= 20 %)
    for fix in ("gender", "birthday", "store", "city", "unionid"):
        miss = missing_key_fields(m) > 2
        if not miss.any():
            break
        if fix == "gender":
            m.gender[miss & (m.gender == "")] = "U"
        elif fix == "birthday":
            m.birthday_blank[miss] = False
        elif fix == "store":
            sel = miss & (m.store_code == "")
            m.store_code[sel] = m.home_code[sel]
        elif fix == "city":
            m.city_blank[miss] = False
        else:
            sel = np.flatnonzero(miss & (m.unionid == ""))
            m.unionid[sel] = random_tokens(rng, len(sel), "oV", 26)
    assert (missing_key_fields(m) <= 2).all()

    # ---- incomplete profiles: 3 to 6 of the key fields blank
    inc = []
    fields = ["mobile", "unionid", "name", "gender", "birthday", "city", "register_time",
              "register_channel", "register_store_code", "tier"]
    for _ in range(max(1, 2 * k)):
        i = take(lambda i: True)
        if i is None:
            break
        need = int(rng.integers(3, 7))
        for f_ in rng.permutation(fields):
            if missing_key_fields(m, i) >= need:
                break
            if f_ == "mobile":
                m.mobile[i] = 0
            elif f_ == "unionid":
                m.unionid[i] = ""
                m.openid[i] = ""
                m.p_online[i] = 0.0
            elif f_ == "name":
                m.name[i] = ""
            elif f_ == "gender":
                m.gender[i] = ""
            elif f_ == "birthday":
                m.birthday_blank[i] = True
            elif f_ == "city":
                m.city_blank[i] = True
            elif f_ == "register_time":
                m.reg_time_blank[i] = True
            elif f_ == "register_channel":
                m.channel[i] = ""
            elif f_ == "register_store_code":
                m.store_code[i] = ""
            else:
                m.tier_blank[i] = True
        inc.append(i)
    m.incomplete = np.array(sorted(inc), dtype=np.int64)

    # ---- erasure requests: a deletion row some time after the member's first row
    for _ in range(k):
        i = take(lambda i: True)
        if i is None:
            break
        fd = int(m.first_day[i])
        if fd < cal.days - 1:
            d = int(rng.integers(fd + 1, cal.days))
            m.del_day[i] = d
            m.t_del[i] = d * DAY + int(rng.integers(8 * HOUR, 23 * HOUR))
        else:
            m.del_day[i] = fd
            m.t_del[i] = max(int(m.t_first[i]) + 60, fd * DAY + 23 * HOUR + 59 * 60)


# ------------------------------------------------------------------------- acquisition costs

# What the brand spends to bring members in, per register channel (yuan): per member who
# registered through it, and a monthly base (ads, tools, in-store material) that is spent
# whether or not anyone signs up, for a brand of 5000 members (it scales with the size).
# store: sign-up gift and material per store (store-tied rows); the online channels are
# channel-wide (no store_code); `other` costs nothing.
ACQUISITION_COST = {"store": (22.0, 300.0), "miniapp": (38.0, 4000.0),
                    "official_account": (55.0, 2500.0), "wecom": (18.0, 1200.0),
                    "referral": (20.0, 0.0)}
STORE_TIED = ("store",)
# the new store's own WeCom sign-up drive: a store-tied wecom row beside the channel-wide one
NEW_STORE_WECOM = (30.0, 800.0)


def make_acquisition_costs(seed: int, cal: Calendar, stores: Stores, m: Members) -> pd.DataFrame:
    """One row per month, register channel and store (``store_code`` '' when channel-wide):
    month, register_channel, store_code, cents, day (the dt it is delivered).

    A month's costs are delivered on the 1st of the next month when that day is in the
    calendar (the whole month), else on the last day (month to date). Costs follow the
    registrations of the month up to that cutoff (every CRM member_id, as the CRM counts),
    with noise, so CAC is plausible but not exact."""
    rng = rng_for(seed, "acquisition_costs")
    sdf = stores.df
    codes = sdf["code"].to_numpy().astype(object)
    months = np.unique(cal.month_index(np.arange(cal.days)))
    rows = []
    for mi in months.tolist():
        first = (date(mi // 12 + 1970, mi % 12 + 1, 1) - cal.start).days
        nxt = (date((mi + 1) // 12 + 1970, (mi + 1) % 12 + 1, 1) - cal.start).days
        day = nxt if nxt < cal.days else cal.days - 1
        cutoff = nxt - 1 if nxt < cal.days else cal.days - 1
        base_share = (cutoff - first + 1) / (nxt - first) * m.n / 5000
        month = cal.month(max(first, 0))
        reg = (m.reg_day >= first) & (m.reg_day <= cutoff)

        def cost(n_members: int, per_member: float, base: float) -> int:
            yuan = (n_members * per_member * rng.lognormal(0, 0.15)
                    + base * base_share * rng.uniform(0.85, 1.15))
            cents = int(round(yuan * 100))
            return cents if rng.random() < 0.4 else int(round(cents, -2))

        ns = stores.new_store
        new_store_drive = ns is not None and sdf.at[ns, "opened_day"] <= cutoff
        for channel, (per_member, base) in ACQUISITION_COST.items():
            of_channel = reg & (m.channel == channel)
            if channel == "wecom" and new_store_drive:  # those the store's own row pays for
                of_channel &= m.store_code != codes[ns]
            if channel in STORE_TIED:
                open_ = (sdf["opened_day"].to_numpy() <= cutoff) & (
                    sdf["closed_day"].to_numpy() > max(first, 0))
                for s in np.flatnonzero(open_).tolist():
                    n = int((of_channel & (m.store_code == codes[s])).sum())
                    rows.append((month, channel, codes[s], cost(n, per_member, base), day))
            else:
                rows.append((month, channel, "", cost(int(of_channel.sum()), per_member, base),
                             day))
        if new_store_drive:
            n = int((reg & (m.channel == "wecom") & (m.store_code == codes[ns])).sum())
            rows.append((month, "wecom", codes[ns], cost(n, *NEW_STORE_WECOM), day))
    df = pd.DataFrame(rows, columns=["month", "register_channel", "store_code", "cents", "day"])
    return df.sort_values(["day", "register_channel", "store_code"], kind="stable"
                          ).reset_index(drop=True)


# ------------------------------------------------------------------------- campaigns

@dataclass
class Campaigns:
    # campaign_id, name, scenario, region, channel, start_day, end_day, budget (cents),
    # target_segment, template (first row of templates or -1), templates (tuple of rows of
    # templates; a treatment member gets one of them at random), uplift, control (has one),
    # control_share
    df: pd.DataFrame
    audience: pd.DataFrame  # campaign (row of df), member, group ('treatment'/'control')
    # template_id, name, coupon_type, face, threshold (cents), category, valid_days,
    # campaign_id, unit_cost (cents), p_claim, p_redeem (given a next order before expiry)
    templates: pd.DataFrame


# planted claim and usage probabilities of campaign coupons by coupon type
P_CLAIM = 0.55
P_REDEEM = {"threshold": 0.28, "no_threshold": 0.42, "category": 0.25, "new_product": 0.3,
            "gift": 0.5}
# the face-value test: one of three no-threshold coupons per treatment member
FACE_VALUE_COUPONS = [("周年庆无门槛5元", 5, 0.50, 0.30), ("周年庆无门槛10元", 10, 0.55, 0.40),
                      ("周年庆无门槛20元", 20, 0.60, 0.50)]


def secondary_accounts(m: Members) -> np.ndarray:
    """Indices of the later member_ids of duplicate persons (the first id is the person)."""
    pos = {v: i for i, v in enumerate(m.id.tolist())}
    return np.array(sorted(pos[x] for ids, _ in m.dup_groups for x in ids[1:]), dtype=np.int64)


def person_of(m: Members) -> np.ndarray:
    """Per member index: the member index of the person's first member_id."""
    pos = {v: i for i, v in enumerate(m.id.tolist())}
    out = np.arange(m.n)
    for ids, _ in m.dup_groups:
        for x in ids[1:]:
            out[pos[x]] = pos[ids[0]]
    return out


def make_campaigns(seed: int, cal: Calendar, stores: Stores, m: Members) -> Campaigns:
    rng = rng_for(seed, "campaigns")
    D = cal.days
    rows = []

    def add(name, scenario, region, channel, s, e, budget, segment, uplift, control=0.4,
            coupon=None, coupons=None):
        s, e = max(0, min(s, D - 1)), max(0, min(e, D - 1))
        coupons = coupons if coupons is not None else ([coupon] if coupon is not None else [])
        rows.append(dict(name=name, scenario=scenario, region=region, channel=channel,
                         start_day=s, end_day=max(s, e), budget=budget * 100,
                         target_segment=segment, uplift=uplift, control=bool(control),
                         control_share=float(control), coupons=coupons))

    # the golden week (or the first week) and 11.11 if in range
    nd = (date(cal.start.year, 10, 1) - cal.start).days
    if 0 <= nd < D:
        add("国庆黄金周会员礼遇", "holiday", "全国", "sms", nd, nd + 6, 80000, "all", 0.5,
            control=0.4, coupon=("国庆满199减30", "threshold", 30, 199, "", 14, 0))
    else:
        add("开季焕新礼", "holiday", "全国", "sms", 0, 6, 60000, "all", 0.5, control=0.4,
            coupon=("焕新满199减30", "threshold", 30, 199, "", 14, 0))
    for y in (cal.start.year, cal.start.year + 1):
        d11 = (date(y, 11, 11) - cal.start).days
        if 0 <= d11 < D:
            add("双十一狂欢", "holiday", "全国", "miniapp_push", d11 - 10, d11, 120000,
                "all", 0.6, control=0.3,
                coupon=("双十一满599减100", "threshold", 100, 599, "", 20, 0))
    # the face-value test: 5, 10 or 20 yuan without threshold, drawn per treatment member
    add("品牌周年庆", "anniversary", "全国", "wechat_article", D // 5, D // 5 + 6, 30000,
        "all", 0.4, control=0.5,
        coupons=[(nm, "no_threshold", face, 0, "", 10, 0, pc, pr)
                 for nm, face, pc, pr in FACE_VALUE_COUPONS])
    # a brand story without coupon and without any effect on purchases
    add("秋日品牌故事", "holiday", "全国", "wechat_article", D // 4, D // 4 + 6, 5000, "all",
        0.0, control=0.5)
    add("沉睡会员召回", "recall", "全国", "ai_call", 2, 2 + 13, 20000, "dormant", 0.9,
        control=0.3, coupon=("召回满300减50", "threshold", 50, 300, "", 21, 0))
    add("新品上市尝鲜", "new_product", "华东", "moments_ad", D // 2, D // 2 + 6, 40000,
        "region", 0.35, control=0.3,
        coupon=("新品立减15", "new_product", 15, 0, "外套", 14, 0))
    add("积分兑好礼", "points", "全国", "miniapp_push", D // 3, D // 3 + 14, 15000, "all",
        0.2, control=0.3)
    add("换季清仓", "season_end", "全国", "wecom", max(0, D - 10), D - 1, 25000, "all", 0.3,
        control=0.4, coupon=("清仓品类券满199减40", "category", 40, 199, "T恤", 10, 0))
    for dd in range(D):  # member day: the 18th of every month
        if cal.pydate(dd).day == 18:
            add(f"{cal.pydate(dd).month}月会员日", "member_day", "全国", "wecom", dd, dd, 10000,
                "all", 0.8, control=0.3, coupon=("会员日赠品券", "gift", 29, 0, "", 3, 1250))
    first_month = cal.pydate(0)
    add(f"{first_month.month}月生日礼", "birthday", "全国", "sms", 0, min(D - 1, 29), 8000,
        "birthday_month", 0.4, control=0.3,
        coupon=("生日专享满200减50", "threshold", 50, 200, "", 30, 0))
    if stores.new_store is not None:
        sdf = stores.df
        ns = stores.new_store
        o = int(sdf.loc[ns, "opened_day"])
        add(f"{sdf.loc[ns, 'name']}开业", "new_store", sdf.loc[ns, "region"], "sms", o, o + 9,
            30000, "region", 0.5, control=0,
            coupon=("新店开业无门槛10元", "no_threshold", 10, 0, "", 10, 0))
    df = pd.DataFrame(rows)
    df = df.sort_values(["start_day", "scenario", "name"], kind="stable").reset_index(drop=True)
    if not (~df["control"]).any():  # exactly one campaign without a control group
        last = df.index[(df["uplift"] > 0) & (df["scenario"] != "anniversary")][-1]
        df.loc[last, "control"] = False
        df.loc[last, "control_share"] = 0.0
    df["campaign_id"] = [f"CP{cal.start.year % 100:02d}{i + 1:03d}" for i in range(len(df))]

    # ---- coupon templates: the campaigns' coupons plus the always-on ones
    trows = [("新人礼券", "no_threshold", 10, 0, "", 30, 0, "", 0.75, 0.45),
             ("包邮券", "shipping", 8, 0, "", 15, 0, "", 0.6, 0.3)]
    tpl_of = []
    for _, r in df.iterrows():
        rows_ = []
        for c in r["coupons"]:
            nm, ctype, face, thr, catg, valid, cost = c[:7]
            pc, pr = c[7:] if len(c) > 7 else (P_CLAIM, P_REDEEM[ctype])
            rows_.append(len(trows))
            trows.append((nm, ctype, face, thr, catg, valid, cost, r["campaign_id"], pc, pr))
        tpl_of.append(tuple(rows_))
    tdf = pd.DataFrame(trows, columns=["name", "coupon_type", "face", "threshold", "category",
                                       "valid_days", "unit_cost", "campaign_id", "p_claim",
                                       "p_redeem"])
    tdf["face"] = tdf["face"] * 100
    tdf["threshold"] = tdf["threshold"] * 100
    tdf["template_id"] = [f"TPL{i + 1:03d}" for i in range(len(tdf))]
    df["templates"] = tpl_of
    df["template"] = [t[0] if t else -1 for t in tpl_of]
    df = df.drop(columns=["coupons"])

    # ---- audience: persons (a duplicate person's later member_ids are left out) who are
    # not erased during the period
    region_of_member = stores.df["region"].to_numpy()[m.home_store]
    bd = np.datetime64(cal.start.isoformat(), "D") + m.birthday_day
    birth_month = bd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    person = np.ones(m.n, dtype=bool)
    person[secondary_accounts(m)] = False
    aud = []
    for ci, r in df.iterrows():
        eligible = (m.t_first < r["start_day"] * DAY) & (m.del_day >= 10**6) & person
        seg = r["target_segment"]
        if seg == "dormant":
            eligible &= m.lam < np.quantile(m.lam, 0.4)
        elif seg == "high_value":
            eligible &= m.tier >= 1
        elif seg == "birthday_month":
            eligible &= (birth_month == cal.pydate(int(r["start_day"])).month) & ~m.birthday_blank
        elif seg == "region":
            eligible &= region_of_member == (r["region"] if r["region"] != "全国" else region_of_member)
        idx = np.flatnonzero(eligible)
        share = {"all": 0.3, "dormant": 0.5, "high_value": 0.6, "birthday_month": 1.0,
                 "region": 0.5}[seg]
        idx = idx[rng.random(len(idx)) < share]
        if len(idx) == 0:
            continue
        ctrl = rng.random(len(idx)) < r["control_share"]
        aud.append(pd.DataFrame({"campaign": ci, "member": idx,
                                 "group": np.where(ctrl, "control", "treatment")}))
    audience = (pd.concat(aud, ignore_index=True) if aud
                else pd.DataFrame({"campaign": [], "member": [], "group": []}))
    return Campaigns(df=df, audience=audience, templates=tdf)
