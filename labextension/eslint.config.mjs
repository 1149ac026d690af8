// ESLint for the panel: typescript-eslint's type-checked rules, React's hook rules;
// formatting is prettier's alone (eslint-config-prettier turns the clashing rules off;
// `curly`, which it turns off too, is back on below: prettier never adds braces).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated (scripts/panel_types.py) or built, never edited by hand.
    ignores: ['lib/', 'node_modules/', '.yarn/', 'src/schema.d.ts']
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', 'style/*.js'] },
        tsconfigRootDir: import.meta.dirname
      }
    }
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          ignoreRestSiblings: true
        }
      ],
      eqeqeq: 'error',
      curly: 'error',
      'prefer-const': 'error'
    }
  },
  {
    files: ['**/*.{js,mjs}'],
    extends: [tseslint.configs.disableTypeChecked]
  }
);
