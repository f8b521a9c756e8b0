"""The README's two quick starts, timed: frozen features with a tuned logistic regression, and fine-tuning.

    python benchmarks/quickstart.py
"""

import time

from sklearn.model_selection import GridSearchCV, train_test_split

from hybridtl.finetune import FineTuneClassifier
from hybridtl.heads import make_hybrid_pipeline
from hybridtl.images import load_digits_images


def main():
    X, y = load_digits_images()  # 1,797 real 8x8 digits, uint8
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

    start = time.perf_counter()
    pipe = make_hybrid_pipeline("logreg", image_size=64)  # frozen CNN -> L2 normalise -> head
    search = GridSearchCV(pipe, {"head__C": [1.0, 10.0, 100.0]}, cv=3).fit(X_train, y_train)
    print(f"hybrid: test accuracy {search.score(X_test, y_test):.3f} in {time.perf_counter() - start:.0f} s")

    start = time.perf_counter()
    clf = FineTuneClassifier(strategy="full", image_size=64, epochs=8, random_state=0, progress=False)
    clf.fit(X_train, y_train)
    print(f"fine-tuning: test accuracy {clf.score(X_test, y_test):.3f} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
