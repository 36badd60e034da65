"""The pipeline's commands, as EasyRec users run them:

  python -m mx_rec.train_eval --pipeline_config_path X.config [...]
  python -m mx_rec.evaluate   --pipeline_config_path X.config [--checkpoint_path C]
  python -m mx_rec.export     --pipeline_config_path X.config --export_dir D [...]
  python -m mx_rec.predict    --pipeline_config_path X.config --input_path I --output_path O

Each module here has the command's function (usable from Python) and main(argv).
"""
