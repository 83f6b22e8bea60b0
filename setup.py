"""dpfe_tf: Deep Private-Feature Extraction (Osia et al., IEEE TKDE) in Keras/TensorFlow, with TFLite."""

from setuptools import find_packages, setup

ATTACKS = ["dlib-bin>=19.24", "face-recognition-models>=0.3"]

setup(
    name="dpfe_tf",
    version="0.1.0",
    description="Deep Private-Feature Extraction in Keras/TensorFlow with a TFLite mobile target",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dpfe_tf", "dpfe_tf.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        # The full tensorflow wheel (not tensorflow-cpu): tf_keras needs it. Never install both.
        "tensorflow>=2.20,<2.22",
        "keras>=3.10,<3.16",
        "tf-keras>=2.20,<2.22",
        "tensorflow-model-optimization>=0.8,<0.9",
        "tensorflow-datasets>=4.9.9,<4.10",
        "importlib_resources",  # tensorflow-datasets 4.9.10 imports it on Python 3.11
        "ai-edge-litert>=2.0,<2.4",
        "numpy>=1.26,<3",
        "absl-py>=1.4,<3",
        "matplotlib>=3.8",
        "pillow>=10",
        "tensorboard>=2.20,<2.22",  # --tensorboard (the tensorflow wheel no longer pulls it in)
    ],
    extras_require={
        # The real face recogniser of the strong attackers: dlib's ResNet, weights inside the package (offline).
        "attacks": ATTACKS,
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "scipy>=1.11", "nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6", "dcor>=0.6", *ATTACKS],
    },
    entry_points={"console_scripts": ["dpfe-train=dpfe_tf.train:run"]},
)
