"""Install the layer folders (connector/, lti/, mappings/, emulator/) as subpackages of `credbridge`.

setuptools cannot map several top-level folders under one package prefix from pyproject.toml alone,
so the package list is computed here; everything else lives in pyproject.toml.
"""

from setuptools import find_packages, setup

LAYERS = ("connector", "lti", "mappings", "emulator")
DATA = ["*.yaml", "*.yml", "*.csv", "*.json", "*.jsonld", "*.ttl", "*.html", "*.txt", "*.css", "*.js",
        "*.svg", "*.ini", "*.mako", "*.po", "*.mo", "*.pot", "*.cfg"]

packages = ["credbridge"]
package_dir = {"credbridge": "credbridge"}
for layer in LAYERS:
    package_dir[f"credbridge.{layer}"] = layer
    packages.append(f"credbridge.{layer}")
    packages += [f"credbridge.{layer}.{sub}" for sub in find_packages(layer)]

# data files sit in plain folders (templates/, vocab/, data/…) below the packages, hence the recursive globs
setup(packages=packages, package_dir=package_dir, package_data={"": [f"**/{pattern}" for pattern in DATA]})
