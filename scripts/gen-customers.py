import random, csv, sys
random.seed(20261201)
n = int(sys.argv[1]); out = sys.argv[2]
regions = ["华东","华南","华北","华中","西南","西北","东北"]
industries = ["电子","纺织","食品","机械制造","医药","农业","化工","钢铁","家具","汽车配件"]
stages = ["潜在客户","合作中","合作中","合作中","已终止"]
values = ["高","中","低"]
cargo = ["电子产品","服装","生鲜","机械设备","药品","农产品","化工原料","钢材","家具","汽车零部件"]
freq = ["每月两次","每周一次","每月一次","每季度一次","每天"]
surn = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"
given = ["伟","娜","强","敏","磊","静","洋","艳","勇","军","杰","娟","涛","明","超","霞","平","刚","丽","鹏"]
roles = ["采购经理","物流主管","总经理","财务经理","仓储主管"]
cities = {"华东":"上海市浦东新区","华南":"广州市天河区","华北":"北京市朝阳区","华中":"武汉市江汉区","西南":"成都市高新区","西北":"西安市雁塔区","东北":"沈阳市和平区"}
chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
w = csv.writer(open(out, "w", newline="", encoding="utf-8"))
w.writerow(["客户名称","统一社会信用代码","行业","地区","地址","合作阶段","客户价值","联系人","电话","邮箱","职务","货物类型","运输频率","年订单量","备注"])
for i in range(n):
    r = random.choice(regions); ind = random.choice(industries)
    name = f"{r[:1]}{ind}{random.choice(['科技','实业','贸易','制造','集团'])}{i:04d}有限公司"
    code = "91" + "".join(random.choice("0123456789") for _ in range(6)) + "".join(random.choice(chars) for _ in range(10))
    person = random.choice(surn) + random.choice(given)
    phone = "1" + random.choice("3578") + "".join(random.choice("0123456789") for _ in range(9))
    email = f"contact{i:04d}@example.com"
    w.writerow([name, code, ind, r, cities[r] + f"{random.randint(1,999)}号", random.choice(stages), random.choice(values),
                person, phone, email, random.choice(roles), random.choice(cargo), random.choice(freq),
                str(random.randint(10, 5000)), random.choice(["", "重点客户,优先安排", "需冷链", "按月结算"])])
