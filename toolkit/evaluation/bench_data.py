"""Generated HIS-style drug lines for the benchmarks and reliability checks (``eval/bench/bench_audit.py``,
``eval/bench/bench_spark.py``, ``eval/reliability.py``): a realistic mix of chronic and acute prescriptions,
about 3 lines each, with some out-of-range doses and long supplies. Not labelled: for throughput, not scoring.
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["DOCTORS", "HEADER", "TEMPLATES", "generate"]

HEADER = "处方号,患者,年龄,性别,诊断,药品名称,规格,单次剂量,剂量单位,频次,给药途径,天数,医生,科室\n"
# (diagnosis, [(drug, strength, dose, unit, frequency, route, days)])
TEMPLATES = [
    (
        "原发性高血压(I10)",
        [
            ("苯磺酸氨氯地平片", "5mg", "5", "mg", "qd", "口服", "28"),
            ("缬沙坦胶囊", "80mg", "80", "mg", "qd", "口服", "28"),
        ],
    ),
    (
        "原发性高血压(I10);2型糖尿病(E11.9)",
        [
            ("盐酸二甲双胍片", "0.5g", "0.5", "g", "tid", "口服", "28"),
            ("厄贝沙坦片", "150mg", "150", "mg", "qd", "口服", "28"),
            ("阿托伐他汀钙片", "20mg", "20", "mg", "qn", "口服", "28"),
        ],
    ),
    (
        "2型糖尿病(E11.9)",
        [
            ("格列美脲片", "2mg", "2", "mg", "qd", "口服", "28"),
            ("二甲双呱", "0.5g", "1", "片", "bid", "口服", "28"),
            ("阿卡波糖片", "50mg", "50", "mg", "tid", "口服", "28"),
        ],
    ),
    (
        "冠状动脉粥样硬化性心脏病(I25.1)",
        [
            ("阿司匹林肠溶片", "100mg", "100", "mg", "qd", "口服", "28"),
            ("氯吡格雷片", "75mg", "75", "mg", "qd", "口服", "28"),
            ("奥美拉唑肠溶胶囊", "20mg", "20", "mg", "qd", "口服", "28"),
            ("瑞舒伐他汀钙片", "10mg", "10", "mg", "qn", "口服", "28"),
        ],
    ),
    (
        "急性支气管炎(J20.9)",
        [
            ("阿莫西林胶囊", "0.5g", "0.5", "g", "tid", "口服", "5"),
            ("氨溴索片", "30mg", "30", "mg", "tid", "口服", "5"),
        ],
    ),
    (
        "慢性阻塞性肺疾病(J44.9)",
        [
            ("噻托溴铵粉吸入剂", "18μg", "1", "粒", "qd", "吸入", "28"),
            ("布地奈德福莫特罗吸入粉雾剂", "160μg/4.5μg", "1", "吸", "bid", "吸入", "28"),
        ],
    ),
    (
        "痛风(M10.9)",
        [
            ("非布司他片", "40mg", "40", "mg", "qd", "口服", "28"),
            ("双氯芬酸钠缓释片", "75mg", "75", "mg", "bid", "口服", "7"),
            ("氢氯噻嗪片", "25mg", "25", "mg", "qd", "口服", "28"),
        ],
    ),
    (
        "慢性胃炎(K29.5)",
        [
            ("奥美拉唑肠溶胶囊", "20mg", "20", "mg", "bid", "口服", "14"),
            ("多潘立酮片", "10mg", "10", "mg", "tid", "口服", "7"),
        ],
    ),
]
DOCTORS = ["王医生", "李医生", "张医生", "刘医生", "陈医生", "杨医生"]


def generate(path: Path, lines: int, seed: int = 7) -> int:
    """Write ``lines`` drug lines (about 3 per prescription) to ``path`` as an HIS-style CSV; returns the number
    of prescriptions. Deterministic for a ``seed``; about 5 % of doses are tripled and 3 % of supplies run 120 days."""
    rng = random.Random(seed)
    n = rx = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        while n < lines:
            dx, items = rng.choice(TEMPLATES)
            rx += 1
            age, sex, doctor = rng.randint(18, 90), rng.choice("男女"), rng.choice(DOCTORS)
            for drug, strength, dose, unit, freq, route, days in items[: max(1, min(len(items), lines - n))]:
                if rng.random() < 0.05:  # some out-of-range doses and long supplies
                    dose = str(float(dose) * 3)
                if rng.random() < 0.03:
                    days = "120"
                fh.write(
                    f'{rx:08d},P{rx % 5000},{age},{sex},"{dx}",{drug},{strength},{dose},{unit},{freq},{route},'
                    f"{days},{doctor},全科\n"
                )
                n += 1
    return rx
