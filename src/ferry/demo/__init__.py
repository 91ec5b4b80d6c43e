"""Demo client systems with fake people, for `ferry demo`, tests and benchmarks."""

from ferry.demo.estate import DemoInfo, build_demo_shop, build_demo_shop_url, shop_map

__all__ = ["DemoInfo", "build_demo_shop", "build_demo_shop_url", "shop_map"]
