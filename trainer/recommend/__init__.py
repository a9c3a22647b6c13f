"""Personalised models on ratings, whose items carry their genres and what Wikipedia says
about their films, so that an item nobody has rated can be recommended: a ranking model (BPR,
`trainer rank`) and a rating model (predicted stars, `trainer rate`).

    split.py     the seeded evaluation split: test ratings per user, cold items held out
    features.py  each item's features (its id, genres, the film's links and vector)
    model.py     the Keras model: user vectors against items made of their features
    metrics.py   per-user AUC (warm and cold), and the baselines scored the same way
    train.py     the run: data, epochs, checkpoints, early stop, comparison models
    export.py    the run folder: users/items vectors, the split, metrics, projector, manifest
    rating_model.py, rating.py   predicted stars: the model, and the run with its folds and
                 baselines
"""
