// Downloads of a model as the two files of a weights directory.

/** Saves a model's weights-directory files ({manifest, file, bytes}) as two downloads. */
export function saveFiles(files) {
  const { manifest, file, bytes } = files;
  for (const [name, blob] of [['manifest.json', new Blob([manifest], { type: 'application/json' })], [file, new Blob([bytes])]]) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
  return files;
}
